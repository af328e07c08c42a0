/*
 * The phone channel end to end, a call's life: signed webhooks from the
 * three wire formats into a real gateway and PostgreSQL become callback
 * tickets, call logs on open tickets, voicemail with its transcript and
 * recording; text-message acknowledgements go to a real HTTP receiver and
 * are retried while the provider is down; calls whose hangup never came are
 * closed. Signatures come from tests/support/signers.c (plain OpenSSL HMAC).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "phone_env.h"
#include "phone_webhooks.h"

static void test_twilio_missed_call_becomes_callback_ticket_with_sms(void **state)
{
    struct phone_env *f = *state;
    const char *ringing[] = {"CallSid=CA100",
                             "CallStatus=ringing",
                             "Direction=inbound",
                             "From=+8613811110001",
                             "To=+861012345678",
                             "CallerName=Wang Fang",
                             NULL};
    const char *missed[] = {"CallSid=CA100",
                            "CallStatus=no-answer",
                            "Direction=inbound",
                            "From=+8613811110001",
                            "To=+861012345678",
                            "CallerName=Wang Fang",
                            "Timestamp=Sun, 22 Nov 2026 09:30:00 +0000",
                            NULL};
    char *reply = NULL;
    assert_int_equal(webhook_twilio(&f->gw, PUBLIC_URL, TWILIO_TOKEN, NULL, ringing, &reply), 200);
    assert_non_null(strstr(reply, "<Response/>"));
    free(reply);
    harness_pg_text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'CA100'", "ringing");
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM tickets"), 0);

    assert_int_equal(phone_env_twilio(f, missed), 200);
    char *ticket = phone_env_ticket_of_call(f->pg, "twilio", "CA100");
    assert_true(strlen(ticket) > 0);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM tickets WHERE number = '%s' AND category = "
                         "'callback' AND channel = 'phone' AND first_response_due_at = "
                         "'2026-11-22 09:30:00+00'::timestamptz + interval '45 minutes'",
                         ticket),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM customers c JOIN customer_identities i ON "
                                "i.customer_id = c.id WHERE i.kind = 'phone' AND i.value = "
                                "'+8613811110001' AND c.name = 'Wang Fang'"),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s' AND m.body LIKE 'Missed call from "
                         "+8613811110001 (Wang Fang)%%reason: no-answer%%'",
                         ticket),
        1);

    /* The SMS: Twilio Messages format, Basic auth, ticket number and the callback promise. */
    assert_int_equal(sink_wait(&f->sms, 1, 15000), 1);
    pthread_mutex_lock(&f->sms.lock);
    char *headers = strdup(f->sms.headers[0]), *body = strdup(f->sms.bodies[0]);
    pthread_mutex_unlock(&f->sms.lock);
    assert_non_null(strstr(headers, "POST /2010-04-01/Accounts/AC42/Messages.json"));
    assert_non_null(
        strstr(headers, "Authorization: Basic QUM0MjpzbXMtdG9rZW4=")); /* AC42:sms-token */
    assert_non_null(strstr(headers, "Content-Type: application/x-www-form-urlencoded"));
    assert_non_null(strstr(body, "To=%2B8613811110001"));
    assert_non_null(strstr(body, "From=%2B861000000000"));
    char expect[64];
    snprintf(expect, sizeof(expect), "%s", ticket);
    char *decoded = curl_easy_unescape(NULL, body, 0, NULL);
    assert_non_null(strstr(decoded, expect));
    assert_non_null(strstr(decoded, "45 minutes"));
    curl_free(decoded);
    assert_int_equal(harness_pg_wait(f->pg,
                                     "SELECT count(*) FROM outbox WHERE kind = 'ack' AND channel = "
                                     "'phone' AND status = 'sent'",
                                     1),
                     1);
    free(headers);
    free(body);
    free(ticket);
}

static void test_second_missed_call_joins_open_callback_ticket(void **state)
{
    struct phone_env *f = *state;
    const char *first[] = {"CallSid=CA200",       "CallStatus=busy",  "Direction=inbound",
                           "From=+8613822220002", "To=+861012345678", NULL};
    assert_int_equal(phone_env_twilio(f, first), 200);
    char *ticket = phone_env_ticket_of_call(f->pg, "twilio", "CA200");
    assert_true(strlen(ticket) > 0);
    long acks = harness_pg_longf(f->pg, "SELECT count(*) FROM outbox WHERE kind = 'ack'");
    /* The same person again, through the PBX bridge, in national form. */
    assert_int_equal(phone_env_cti(f,
                                   "event=newCall&direction=in&callId=pbx-200&from=013822220002&to="
                                   "%2B861012345678"),
                     200);
    assert_int_equal(phone_env_cti(f, "event=hangup&cause=cancel&direction=in&callId=pbx-200&from="
                                      "013822220002&to=%2B861012345678"),
                     200);
    char *second = phone_env_ticket_of_call(f->pg, "cti", "pbx-200");
    assert_string_equal(second, ticket);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s'",
                         ticket),
        2);
    /* Joining tells agents, not the customer a second time. */
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM outbox WHERE kind = 'ack'"),
                     acks);
    free(ticket);
    free(second);
}

static void test_answered_call_is_logged_on_the_open_ticket(void **state)
{
    struct phone_env *f = *state;
    const char *missed[] = {"CallSid=CA300",       "CallStatus=no-answer", "Direction=inbound",
                            "From=+8613833330003", "To=+861012345678",     NULL};
    assert_int_equal(phone_env_twilio(f, missed), 200);
    char *ticket = phone_env_ticket_of_call(f->pg, "twilio", "CA300");
    long acks = harness_pg_longf(f->pg, "SELECT count(*) FROM outbox WHERE kind = 'ack'");
    const char *answered[] = {"CallSid=CA301",       "CallStatus=in-progress", "Direction=inbound",
                              "From=+8613833330003", "To=+861012345678",       NULL};
    const char *completed[] = {"CallSid=CA301",
                               "CallStatus=completed",
                               "Direction=inbound",
                               "From=+8613833330003",
                               "To=+861012345678",
                               "CallDuration=192",
                               NULL};
    assert_int_equal(phone_env_twilio(f, answered), 200);
    assert_int_equal(phone_env_twilio(f, completed), 200);
    char *logged = phone_env_ticket_of_call(f->pg, "twilio", "CA301");
    assert_string_equal(logged, ticket);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s' AND m.body LIKE 'Answered call from "
                         "+8613833330003%%duration 3 min 12 s.'",
                         ticket),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT duration_s FROM calls WHERE call_id = 'CA301'"), 192);
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM outbox WHERE kind = 'ack'"),
                     acks);

    /* A first-time caller who got through: a new ticket, no acknowledgement. */
    const char *fresh[] = {"CallSid=CA302",
                           "CallStatus=completed",
                           "Direction=inbound",
                           "From=+8613833339999",
                           "To=+861012345678",
                           "CallDuration=40",
                           NULL};
    assert_int_equal(phone_env_twilio(f, fresh), 200);
    char *own = phone_env_ticket_of_call(f->pg, "twilio", "CA302");
    assert_true(strlen(own) > 0);
    assert_string_not_equal(own, ticket);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM outbox o JOIN tickets t ON t.id = o.ticket_id "
                         "WHERE t.number = '%s' AND o.kind = 'ack'",
                         own),
        0);
    free(ticket);
    free(logged);
    free(own);
}

static void test_voicemail_ticket_carries_transcript_and_recording(void **state)
{
    struct phone_env *f = *state;
    char *reply = NULL;
    assert_int_equal(
        phone_env_native(f,
                         "{\"event_id\":\"vm-1\",\"call_id\":\"n-400\",\"type\":\"voicemail\","
                         "\"from\":\"+8613844440004\",\"to\":\"+861012345678\",\"at\":"
                         "\"2026-11-22T17:05:00+08:00\",\"transcript\":\"我的打印机坏了，请回电\","
                         "\"recording_url\":\"https://rec.example.com/n-400.mp3\"}",
                         &reply),
        200);
    char *ticket = harness_json_str(reply, "ticket");
    char *state_s = harness_json_str(reply, "call_state");
    assert_non_null(ticket);
    assert_string_equal(state_s, "missed");
    assert_true(harness_json_bool(reply, "new_ticket"));
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM tickets t JOIN messages m ON m.ticket_id = t.id "
                         "WHERE t.number = '%s' AND t.subject = 'Voicemail from +8613844440004' "
                         "AND m.body LIKE '%%Voicemail transcript: 我的打印机坏了，请回电%%' "
                         "AND m.body LIKE '%%Recording: https://rec.example.com/n-400.mp3%%' "
                         "AND m.received_at = '2026-11-22 09:05:00+00' AND t.language = 'zh'",
                         ticket),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM outbox o JOIN tickets t ON t.id = o.ticket_id "
                         "WHERE t.number = '%s' AND o.kind = 'ack' AND o.payload->>"
                         "'reply_handle' = '+8613844440004'",
                         ticket),
        1);
    free(reply);
    free(ticket);
    free(state_s);
}

static void test_media_after_the_end_joins_the_calls_ticket_once(void **state)
{
    struct phone_env *f = *state;
    const char *done[] = {"CallSid=CA500",
                          "CallStatus=completed",
                          "Direction=inbound",
                          "From=+8613855550005",
                          "To=+861012345678",
                          "CallDuration=61",
                          NULL};
    const char *recording[] = {"CallSid=CA500",
                               "RecordingSid=RE500",
                               "RecordingUrl=https://api.twilio.com/rec/RE500",
                               "RecordingDuration=58",
                               "RecordingStatus=completed",
                               NULL};
    const char *transcript[] = {"CallSid=CA500", "TranscriptionSid=TR500",
                                "TranscriptionText=Please call me back about invoice 42",
                                "TranscriptionStatus=completed", NULL};
    const char *in_progress[] = {"CallSid=CA500", "RecordingSid=RE501",
                                 "RecordingUrl=https://api.twilio.com/rec/RE501",
                                 "RecordingStatus=in-progress", NULL};
    assert_int_equal(phone_env_twilio(f, done), 200);
    char *ticket = phone_env_ticket_of_call(f->pg, "twilio", "CA500");
    assert_int_equal(phone_env_twilio(f, recording), 200);
    assert_int_equal(phone_env_twilio(f, transcript), 200);
    assert_int_equal(phone_env_twilio(f, transcript), 200); /* Twilio retried */
    assert_int_equal(phone_env_twilio(f, in_progress), 200);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s'",
                         ticket),
        3);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s' AND m.body = 'Recording of the call, duration "
                         "58 s: https://api.twilio.com/rec/RE500'",
                         ticket),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s' AND m.body = 'Voicemail transcript: Please "
                         "call me back about invoice 42'",
                         ticket),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM call_events WHERE call_id = 'CA500'"), 3);
    free(ticket);
}

static void test_withheld_number_records_the_call_without_a_ticket(void **state)
{
    struct phone_env *f = *state;
    const char *hidden[] = {"CallSid=CA950", "CallStatus=no-answer", "From=anonymous",
                            "To=+861012345678", NULL};
    long tickets = harness_pg_longf(f->pg, "SELECT count(*) FROM tickets");
    assert_int_equal(phone_env_twilio(f, hidden), 200);
    harness_pg_text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'CA950'", "missed");
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM tickets"), tickets);
}

static void test_answered_callback_is_the_first_response(void **state)
{
    struct phone_env *f = *state;
    const char *missed[] = {"CallSid=CA960",       "CallStatus=no-answer", "Direction=inbound",
                            "From=+8613896960096", "To=+861012345678",     NULL};
    assert_int_equal(phone_env_twilio(f, missed), 200);
    char *ticket = phone_env_ticket_of_call(f->pg, "twilio", "CA960");
    const char *back[] = {"CallSid=CA961",
                          "CallStatus=completed",
                          "Direction=outbound-api",
                          "From=+861012345678",
                          "To=+8613896960096",
                          "CallDuration=300",
                          NULL};
    assert_int_equal(phone_env_twilio(f, back), 200);
    assert_int_equal(harness_pg_longf(f->pg,
                                      "SELECT count(*) FROM tickets WHERE number = '%s' AND "
                                      "first_responded_at IS NOT NULL AND status = 'open'",
                                      ticket),
                     1);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = "
                         "e.ticket_id WHERE t.number = '%s' AND e.kind = 'called_back'",
                         ticket),
        1);
    free(ticket);
}

static void test_sms_is_retried_after_the_provider_was_down(void **state)
{
    (void)state;
    struct phone_env f;
    int port = harness_free_port();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sms", port);
    phone_env_start(&f, "phone_sms_retry", url);
    assert_int_equal(
        phone_env_native(&f,
                         "{\"event_id\":\"r-1\",\"call_id\":\"n-r1\",\"type\":\"missed\","
                         "\"from\":\"+8613812121212\"}",
                         NULL),
        200);
    /* Nobody listens: the attempt fails and is scheduled again. */
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = "
                                     "'pending' AND attempts >= 1 AND last_error IS NOT NULL",
                                     1),
                     1);
    struct sink sms;
    const int statuses[] = {503, 201};
    sink_start_on(&sms, port, statuses, 2);
    assert_int_equal(
        harness_pg_wait(f.pg, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'",
                        1),
        1);
    /* One refusal (503) and one delivery, then nothing more. */
    assert_int_equal(sink_wait(&sms, 2, 5000), 2);
    usleep(1500 * 1000);
    assert_int_equal(sink_wait(&sms, 3, 0), 2);
    assert_non_null(strstr(sms.bodies[1], "To=%2B8613812121212"));
    sink_stop(&sms);
    phone_env_finish(&f);
}

static void test_stale_calls_are_closed(void **state)
{
    (void)state;
    struct phone_env f;
    phone_env_start(&f, "phone_stale", "http://127.0.0.1:9/none");
    assert_int_equal(
        phone_env_native(&f,
                         "{\"event_id\":\"s-1\",\"call_id\":\"stale-ringing\",\"type\":"
                         "\"ringing\",\"from\":\"+8613813131313\"}",
                         NULL),
        200);
    assert_int_equal(
        phone_env_native(&f,
                         "{\"event_id\":\"s-2\",\"call_id\":\"stale-answered\",\"type\":"
                         "\"answered\",\"from\":\"+8613814141414\"}",
                         NULL),
        200);
    assert_int_equal(
        phone_env_native(&f,
                         "{\"event_id\":\"s-3\",\"call_id\":\"fresh-ringing\",\"type\":"
                         "\"ringing\",\"from\":\"+8613815151515\"}",
                         NULL),
        200);
    /* Two hangups that never came: the calls fall silent for three hours. */
    assert_int_equal(harness_gateway_stop(&f.gw), 0);
    harness_pg_exec(f.pg, "UPDATE calls SET last_event_at = now() - interval '3 hours' "
                          "WHERE call_id LIKE 'stale-%'");
    harness_gateway_start_config(&f.gw, f.db.url, phone_env_config("http://127.0.0.1:9/none"),
                                 NULL);
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM calls WHERE call_id LIKE 'stale-%' AND "
                                     "ticket_id IS NOT NULL",
                                     2),
                     2);
    harness_pg_text_is(f.pg,
                       "SELECT state || '/' || cause FROM calls WHERE call_id = "
                       "'stale-ringing'",
                       "missed/stale");
    harness_pg_text_is(f.pg,
                       "SELECT state FROM calls WHERE call_id = "
                       "'stale-answered'",
                       "ended");
    harness_pg_text_is(f.pg,
                       "SELECT state FROM calls WHERE call_id = "
                       "'fresh-ringing'",
                       "ringing");
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets t JOIN calls c ON c.ticket_id = t.id "
                               "WHERE c.call_id = 'stale-ringing' AND t.category = 'callback'"),
        1);
    /* The real hangup arriving after the sweep changes nothing. */
    assert_int_equal(
        phone_env_native(&f,
                         "{\"event_id\":\"s-4\",\"call_id\":\"stale-ringing\",\"type\":"
                         "\"missed\",\"from\":\"+8613813131313\"}",
                         NULL),
        200);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets t JOIN customer_identities i ON "
                               "i.customer_id = t.customer_id WHERE i.value = "
                               "'+8613813131313'"),
        1);
    phone_env_finish(&f);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        /* First: it counts the SMS receiver's requests from zero. */
        cmocka_unit_test(test_twilio_missed_call_becomes_callback_ticket_with_sms),
        cmocka_unit_test(test_second_missed_call_joins_open_callback_ticket),
        cmocka_unit_test(test_answered_call_is_logged_on_the_open_ticket),
        cmocka_unit_test(test_voicemail_ticket_carries_transcript_and_recording),
        cmocka_unit_test(test_media_after_the_end_joins_the_calls_ticket_once),
        cmocka_unit_test(test_withheld_number_records_the_call_without_a_ticket),
        cmocka_unit_test(test_answered_callback_is_the_first_response),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_sms_is_retried_after_the_provider_was_down),
        cmocka_unit_test(test_stale_calls_are_closed),
    };
    int failed =
        cmocka_run_group_tests_name("phone calls", shared, phone_env_setup, phone_env_teardown);
    return failed + cmocka_run_group_tests_name("phone calls, own gateways", own, NULL, NULL);
}
