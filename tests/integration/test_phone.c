/*
 * The phone channel end to end: signed webhooks from the three wire formats
 * into a real gateway and PostgreSQL, text-message acknowledgements into a
 * real HTTP receiver. Signatures are computed here with plain OpenSSL HMAC
 * over the concatenated text (the channel's own signing code is checked
 * against openssl-dgst vectors in tests/channels/phone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sink.h"

#define PUBLIC_URL   "https://help.example.com"
#define TWILIO_TOKEN "tw-secret-0123"
#define CTI_TOKEN    "cti-secret-token-42"
#define HOOK_SECRET  "wh-secret-abc"
#define SMS_FROM     "+861000000000"

struct fixture {
    struct harness_db db;
    struct harness_gateway gw;
    PGconn *pg;
    struct sink sms;
};

static char *config_with_sms(const char *sms_url)
{
    static char json[1024];
    snprintf(json, sizeof(json),
             "{\"public_url\":\"" PUBLIC_URL "/\","
             "\"outbox\":{\"backoff_seconds\":1,\"poll_ms\":100,\"max_attempts\":30},"
             "\"channels\":{\"phone\":{\"default_country_code\":\"86\","
             "\"twilio_auth_token\":\"" TWILIO_TOKEN "\",\"cti_token\":\"" CTI_TOKEN "\","
             "\"webhook_secret\":\"" HOOK_SECRET "\",\"callback_within_minutes\":45,"
             "\"sms\":{\"url\":\"%s\",\"from\":\"" SMS_FROM "\",\"account\":\"AC42\","
             "\"token\":\"sms-token\"}}}}",
             sms_url);
    return json;
}

static void start(struct fixture *f, const char *name, const char *sms_url)
{
    harness_db_create(&f->db, name);
    assert_int_equal(harness_migrate(f->db.url, NULL, 0), 0);
    harness_gateway_start_config(&f->gw, f->db.url, config_with_sms(sms_url), NULL);
    f->pg = harness_pg(f->db.url);
}

static void finish(struct fixture *f)
{
    PQfinish(f->pg);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
    harness_db_drop(&f->db);
}

static int setup(void **state)
{
    static struct fixture f;
    const int statuses[] = {201};
    sink_start(&f.sms, statuses, 1);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/2010-04-01/Accounts/AC42/Messages.json",
             f.sms.port);
    start(&f, "phone", url);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    finish(f);
    sink_stop(&f->sms);
    return 0;
}

/* ---- Twilio: form fields "Name=Value" (unencoded), signed over URL + sorted fields ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* query: as it stands in the callback URL Twilio was given (escaped), or NULL. */
static long twilio_post_query(const struct harness_gateway *gw, const char *token,
                              const char *query, const char *const *fields, char **body_out)
{
    const char *sorted[32];
    size_t n = 0;
    while (fields[n])
        n++;
    memcpy(sorted, fields, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), by_name);
    char signed_text[4096];
    size_t off =
        (size_t)snprintf(signed_text, sizeof(signed_text), "%s%s%s", PUBLIC_URL "/v1/phone/twilio",
                         query ? "?" : "", query ? query : "");
    char body[4096] = "";
    size_t boff = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(sorted[i], '=');
        off += (size_t)snprintf(signed_text + off, sizeof(signed_text) - off, "%.*s%s",
                                (int)(eq - sorted[i]), sorted[i], eq + 1);
        char *esc = curl_easy_escape(NULL, eq + 1, 0);
        boff += (size_t)snprintf(body + boff, sizeof(body) - boff, "%s%.*s=%s", i ? "&" : "",
                                 (int)(eq - sorted[i]), sorted[i], esc);
        curl_free(esc);
    }
    unsigned char mac[20];
    unsigned int mac_len = 0;
    HMAC(EVP_sha1(), token, (int)strlen(token), (const unsigned char *)signed_text, off, mac,
         &mac_len);
    char sig[64], header[128];
    EVP_EncodeBlock((unsigned char *)sig, mac, (int)mac_len);
    snprintf(header, sizeof(header), "X-Twilio-Signature: %s", sig);
    const char *headers[] = {header, "Content-Type: application/x-www-form-urlencoded", NULL};
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/phone/twilio%s%s", gw->base, query ? "?" : "",
             query ? query : "");
    struct harness_response r;
    harness_http_headers("POST", url, headers, body, strlen(body), &r);
    long status = r.status;
    if (body_out)
        *body_out = r.body;
    else
        harness_response_free(&r);
    return status;
}

static long twilio_post_as(const struct harness_gateway *gw, const char *token,
                           const char *const *fields, char **body_out)
{
    return twilio_post_query(gw, token, NULL, fields, body_out);
}

static long twilio_post(const struct fixture *f, const char *const *fields)
{
    return twilio_post_as(&f->gw, TWILIO_TOKEN, fields, NULL);
}

/* ---- our signed JSON ---- */

static long native_post_signed(const struct harness_gateway *gw, const char *json, long t,
                               const char *secret, char **body_out)
{
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%ld.", t);
    size_t plen = strlen(prefix), jlen = strlen(json);
    unsigned char *text = malloc(plen + jlen);
    memcpy(text, prefix, plen);
    memcpy(text + plen, json, jlen);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), text, plen + jlen, mac, &mac_len);
    free(text);
    char header[160];
    int o = snprintf(header, sizeof(header), "X-Intake-Signature: t=%ld,v1=", t);
    for (unsigned i = 0; i < mac_len; i++)
        o += snprintf(header + o, sizeof(header) - (size_t)o, "%02x", mac[i]);
    const char *headers[] = {header, "Content-Type: application/json", NULL};
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/phone/events", gw->base);
    struct harness_response r;
    harness_http_headers("POST", url, headers, json, jlen, &r);
    long status = r.status;
    if (body_out)
        *body_out = r.body;
    else
        harness_response_free(&r);
    return status;
}

static long native_post(const struct fixture *f, const char *json, char **body_out)
{
    return native_post_signed(&f->gw, json, (long)time(NULL), HOOK_SECRET, body_out);
}

/* ---- generic CTI, form-encoded ---- */

static long cti_post(const struct fixture *f, const char *token, const char *form)
{
    char url[160];
    snprintf(url, sizeof(url), "%s/v1/phone/cti/%s", f->gw.base, token);
    struct harness_response r;
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded", form, strlen(form), &r);
    long status = r.status;
    harness_response_free(&r);
    return status;
}

static void text_is(PGconn *pg, const char *sql, const char *expected)
{
    char *got = harness_pg_text(pg, sql);
    assert_string_equal(got, expected);
    free(got);
}

static char *ticket_of_call(PGconn *pg, const char *provider, const char *call_id)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT t.number FROM calls c JOIN tickets t ON t.id = c.ticket_id "
             "WHERE c.provider = '%s' AND c.call_id = '%s'), '')",
             provider, call_id);
    return harness_pg_text(pg, sql);
}

static void test_twilio_missed_call_becomes_callback_ticket_with_sms(void **state)
{
    struct fixture *f = *state;
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
    assert_int_equal(twilio_post_as(&f->gw, TWILIO_TOKEN, ringing, &reply), 200);
    assert_non_null(strstr(reply, "<Response/>"));
    free(reply);
    text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'CA100'", "ringing");
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM tickets"), 0);

    assert_int_equal(twilio_post(f, missed), 200);
    char *ticket = ticket_of_call(f->pg, "twilio", "CA100");
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
    struct fixture *f = *state;
    const char *first[] = {"CallSid=CA200",       "CallStatus=busy",  "Direction=inbound",
                           "From=+8613822220002", "To=+861012345678", NULL};
    assert_int_equal(twilio_post(f, first), 200);
    char *ticket = ticket_of_call(f->pg, "twilio", "CA200");
    assert_true(strlen(ticket) > 0);
    long acks = harness_pg_longf(f->pg, "SELECT count(*) FROM outbox WHERE kind = 'ack'");
    /* The same person again, through the PBX bridge, in national form. */
    assert_int_equal(cti_post(f, CTI_TOKEN,
                              "event=newCall&direction=in&callId=pbx-200&from=013822220002&to="
                              "%2B861012345678"),
                     200);
    assert_int_equal(cti_post(f, CTI_TOKEN,
                              "event=hangup&cause=cancel&direction=in&callId=pbx-200&from="
                              "013822220002&to=%2B861012345678"),
                     200);
    char *second = ticket_of_call(f->pg, "cti", "pbx-200");
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
    struct fixture *f = *state;
    const char *missed[] = {"CallSid=CA300",       "CallStatus=no-answer", "Direction=inbound",
                            "From=+8613833330003", "To=+861012345678",     NULL};
    assert_int_equal(twilio_post(f, missed), 200);
    char *ticket = ticket_of_call(f->pg, "twilio", "CA300");
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
    assert_int_equal(twilio_post(f, answered), 200);
    assert_int_equal(twilio_post(f, completed), 200);
    char *logged = ticket_of_call(f->pg, "twilio", "CA301");
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
    assert_int_equal(twilio_post(f, fresh), 200);
    char *own = ticket_of_call(f->pg, "twilio", "CA302");
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
    struct fixture *f = *state;
    char *reply = NULL;
    assert_int_equal(
        native_post(f,
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
    struct fixture *f = *state;
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
    assert_int_equal(twilio_post(f, done), 200);
    char *ticket = ticket_of_call(f->pg, "twilio", "CA500");
    assert_int_equal(twilio_post(f, recording), 200);
    assert_int_equal(twilio_post(f, transcript), 200);
    assert_int_equal(twilio_post(f, transcript), 200); /* Twilio retried */
    assert_int_equal(twilio_post(f, in_progress), 200);
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

static void test_events_out_of_order_land_correctly(void **state)
{
    struct fixture *f = *state;
    /* The hangup overtakes the ring and the answer. */
    assert_int_equal(cti_post(f, CTI_TOKEN,
                              "event=hangup&cause=normalClearing&direction=in&callId=ooo-1&from="
                              "%2B8613866660006&to=%2B861012345678"),
                     200);
    assert_int_equal(cti_post(f, CTI_TOKEN,
                              "event=answer&direction=in&callId=ooo-1&from=%2B8613866660006&to="
                              "%2B861012345678&user%5B%5D=Agent+Li&answeringNumber=801"),
                     200);
    assert_int_equal(cti_post(f, CTI_TOKEN,
                              "event=newCall&direction=in&callId=ooo-1&from=%2B8613866660006&to="
                              "%2B861012345678&user%5B%5D=Agent+Li&user%5B%5D=Agent+Wu"),
                     200);
    text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'ooo-1'", "ended");
    assert_int_equal(harness_pg_longf(f->pg, "SELECT events FROM calls WHERE call_id = 'ooo-1'"),
                     3);
    char *ticket = ticket_of_call(f->pg, "cti", "ooo-1");
    assert_true(strlen(ticket) > 0);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s'",
                         ticket),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM tickets t JOIN customer_identities i ON "
                                "i.customer_id = t.customer_id WHERE i.value = '+8613866660006'"),
        1);

    /* A late "answered" after "missed" does not revive the call or make a second ticket. */
    assert_int_equal(native_post(f,
                                 "{\"event_id\":\"ooo-2-missed\",\"call_id\":\"ooo-2\",\"type\":"
                                 "\"missed\",\"from\":\"+8613866660007\"}",
                                 NULL),
                     200);
    assert_int_equal(native_post(f,
                                 "{\"event_id\":\"ooo-2-ringing\",\"call_id\":\"ooo-2\",\"type\":"
                                 "\"ringing\",\"from\":\"+8613866660007\"}",
                                 NULL),
                     200);
    assert_int_equal(native_post(f,
                                 "{\"event_id\":\"ooo-2-answered\",\"call_id\":\"ooo-2\",\"type\":"
                                 "\"answered\",\"from\":\"+8613866660007\"}",
                                 NULL),
                     200);
    text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'ooo-2'", "missed");
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM tickets t JOIN customer_identities i ON "
                                "i.customer_id = t.customer_id WHERE i.value = '+8613866660007'"),
        1);
    free(ticket);
}

static void test_replays_store_nothing_twice(void **state)
{
    struct fixture *f = *state;
    const char *ev = "{\"event_id\":\"dup-1\",\"call_id\":\"n-700\",\"type\":\"missed\","
                     "\"from\":\"+8613877770007\",\"caller_name\":\"Chen Jing\"}";
    char *first = NULL, *again = NULL;
    assert_int_equal(native_post(f, ev, &first), 200);
    for (int i = 0; i < 5; i++) {
        free(again);
        assert_int_equal(native_post(f, ev, &again), 200);
    }
    char *status = harness_json_str(again, "status");
    char *t1 = harness_json_str(first, "ticket"), *t2 = harness_json_str(again, "ticket");
    assert_string_equal(status, "duplicate");
    assert_string_equal(t1, t2);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM call_events WHERE call_id = 'n-700'"), 1);
    assert_int_equal(harness_pg_longf(f->pg,
                                      "SELECT count(*) FROM messages WHERE idempotency_key = "
                                      "'phone:native:dup-1'"),
                     1);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND dedupe_key = "
                                "'ack:phone:native:dup-1'"),
        1);
    /* A replayed Twilio status too. */
    const char *busy[] = {"CallSid=CA701", "CallStatus=busy", "From=+8613877770008", NULL};
    assert_int_equal(twilio_post(f, busy), 200);
    assert_int_equal(twilio_post(f, busy), 200);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM messages m JOIN calls c ON c.ticket_id = "
                                "m.ticket_id WHERE c.call_id = 'CA701'"),
        1);
    free(first);
    free(again);
    free(status);
    free(t1);
    free(t2);
}

struct racer {
    const struct fixture *f;
    const char *json;
    long status;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    r->status = native_post(r->f, r->json, NULL);
    return NULL;
}

static void test_parallel_copies_and_events_of_one_call_make_one_ticket(void **state)
{
    struct fixture *f = *state;
    /* Eight copies each of the ring, the answer and the hangup, all at once. */
    const char *events[] = {
        "{\"event_id\":\"par-ring\",\"call_id\":\"n-par\",\"type\":\"ringing\","
        "\"from\":\"+8613818181818\"}",
        "{\"event_id\":\"par-answer\",\"call_id\":\"n-par\",\"type\":\"answered\","
        "\"from\":\"+8613818181818\"}",
        "{\"event_id\":\"par-end\",\"call_id\":\"n-par\",\"type\":\"ended\","
        "\"from\":\"+8613818181818\",\"duration\":95}",
    };
    enum { COPIES = 8, N = 3 * COPIES };
    struct racer racers[N];
    pthread_t threads[N];
    for (int i = 0; i < N; i++) {
        racers[i] = (struct racer){f, events[i % 3], 0};
        pthread_create(&threads[i], NULL, race, &racers[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(racers[i].status, 200);
    }
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM call_events WHERE call_id = 'n-par'"), 3);
    text_is(f->pg, "SELECT state || '/' || duration_s FROM calls WHERE call_id = 'n-par'",
            "ended/95");
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "JOIN customer_identities i ON i.customer_id = t.customer_id WHERE "
                         "i.value = '+8613818181818'"),
        1);
}

/*
 * A missed call's registration document, as the gateway builds it for
 * intake_call_event (bench/out/phone-templates.csv has the gateway's own).
 */
static void missed_call_document(char *out, size_t cap, const char *call_id, const char *phone)
{
    snprintf(out, cap,
             "{\"key\":\"phone:native:%s-missed\",\"channel\":\"phone\",\"phone\":\"%s\","
             "\"name\":\"Zhao Lei\",\"subject\":\"Missed call from %s\",\"body\":\"Missed call\","
             "\"queue\":\"general\",\"category\":\"callback\",\"priority\":\"normal\","
             "\"first_response_s\":1800,\"handling_s\":172800,\"resolve_s\":86400,"
             "\"ticket_prefix\":\"SR-\",\"customer_prefix\":\"C-\",\"language_detected\":\"en\","
             "\"external_ref\":\"call:native:%s\",\"call\":{\"provider\":\"native\","
             "\"call_id\":\"%s\",\"kind\":\"missed\",\"direction\":\"in\",\"from\":\"%s\","
             "\"to\":\"+861012345678\",\"cause\":\"no-answer\"}}",
             call_id, phone, phone, call_id, call_id, phone);
}

/*
 * Two workers (or gateways) run sql, whose one parameter is a document, at
 * the same moment: the first has run it and not committed when the second
 * starts. The second must be blocked on a lock until the first commits, or
 * this would not be a race. Returns both answers (malloc'd).
 */
static void two_at_once(const struct fixture *f, const char *sql, const char *doc_first,
                        const char *doc_second, char **first_answer, char **second_answer)
{
    PGconn *first = harness_pg(f->db.url), *second = harness_pg(f->db.url);
    harness_pg_exec(first, "BEGIN");
    const char *params[] = {doc_first};
    PGresult *r = PQexecParams(first, sql, 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    *first_answer = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);

    params[0] = doc_second;
    assert_int_equal(PQsendQueryParams(second, sql, 1, NULL, params, NULL, NULL, 0), 1);
    long waiting = 0;
    for (int i = 0; i < 100 && !waiting; i++) {
        waiting = harness_pg_longf(f->pg,
                                   "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND "
                                   "wait_event_type = 'Lock'",
                                   PQbackendPID(second));
        if (!waiting)
            usleep(50 * 1000);
    }
    assert_int_equal(waiting, 1);
    harness_pg_exec(first, "COMMIT");

    r = PQgetResult(second);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    *second_answer = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_null(PQgetResult(second));
    PQfinish(first);
    PQfinish(second);
}

/*
 * A caller's second missed call, registered by another worker while the
 * first is uncommitted, waits on the caller's lock and joins the first's
 * ticket (before db/0011 it waited on the number's identity row, then opened
 * a second ticket for a second customer).
 */
static void test_missed_calls_of_one_caller_at_once_on_two_workers_share_a_ticket(void **state)
{
    struct fixture *f = *state;
    const char *phone = "+8613866660066";
    char doc1[2048], doc2[2048], *ticket, *ticket2;
    missed_call_document(doc1, sizeof(doc1), "race-1", phone);
    missed_call_document(doc2, sizeof(doc2), "race-2", phone);
    two_at_once(f, "SELECT intake_call_event($1::jsonb)->>'ticket'", doc1, doc2, &ticket, &ticket2);
    assert_string_equal(ticket2, ticket);
    /* Both calls on one ticket, of one customer, who owns the number. */
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM messages WHERE sender_address = '%s'", phone),
        2);
    assert_int_equal(harness_pg_longf(f->pg,
                                      "SELECT count(DISTINCT t.id) FROM messages m JOIN tickets t "
                                      "ON t.id = m.ticket_id WHERE m.sender_address = '%s'",
                                      phone),
                     1);
    assert_int_equal(harness_pg_longf(f->pg,
                                      "SELECT count(*) FROM customers c WHERE EXISTS (SELECT 1 "
                                      "FROM tickets t JOIN messages m ON m.ticket_id = t.id WHERE "
                                      "t.customer_id = c.id AND m.sender_address = '%s') AND "
                                      "EXISTS (SELECT 1 FROM customer_identities i WHERE "
                                      "i.customer_id = c.id AND i.value = '%s')",
                                      phone, phone),
                     1);
    free(ticket);
    free(ticket2);
}

/* An API contact's document from the number phone, under key, as the gateway registers it. */
static void api_contact_document(char *out, size_t cap, const char *key, const char *phone)
{
    snprintf(out, cap,
             "{\"key\":\"%s\",\"channel\":\"api\",\"phone\":\"%s\",\"subject\":\"Invoice\","
             "\"body\":\"Please send the invoice again.\",\"queue\":\"general\","
             "\"category\":\"general\",\"priority\":\"normal\",\"ticket_prefix\":\"SR-\","
             "\"customer_prefix\":\"C-\",\"first_response_s\":900,\"handling_s\":172800,"
             "\"resolve_s\":86400}",
             key, phone);
}

/*
 * Two first contacts from one new number at once, on two workers or
 * gateways: the second waits for the first and then belongs to the same
 * customer. Before db/0015 it waited on the number's identity row, lost it,
 * and kept a customer record of its own (only e-mail had an adoption rule).
 */
static void test_first_contacts_of_one_new_number_at_once_share_a_customer(void **state)
{
    struct fixture *f = *state;
    const char *phone = "+8613877770077";
    char doc1[2048], doc2[2048], *customer, *customer2;
    api_contact_document(doc1, sizeof(doc1), "new-number-1", phone);
    api_contact_document(doc2, sizeof(doc2), "new-number-2", phone);
    two_at_once(f, "SELECT intake_register_contact($1::jsonb)->>'customer'", doc1, doc2, &customer,
                &customer2);
    assert_string_equal(customer2, customer);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(DISTINCT t.customer_id) FROM messages m JOIN "
                         "tickets t ON t.id = m.ticket_id WHERE m.sender_address = '%s'",
                         phone),
        1);
    free(customer);
    free(customer2);
}

/*
 * A callback URL configured at Twilio with an escaped query: Twilio signs the
 * URL as written, the server hands the query over decoded, and the gateway
 * still recognizes the signature (it was refused with 403 before).
 */
static void test_twilio_callback_url_with_an_escaped_query_verifies(void **state)
{
    struct fixture *f = *state;
    const char *ringing[] = {"CallSid=CA900",     "From=+8613800139000", "To=+862150001000",
                             "Direction=inbound", "CallStatus=ringing",  NULL};
    assert_int_equal(
        twilio_post_query(&f->gw, TWILIO_TOKEN, "site=a%2Fb%20c&tenant=7", ringing, NULL), 200);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA900'"),
                     1);
    /* The same query under another secret is still refused. */
    const char *again[] = {"CallSid=CA901",     "From=+8613800139000", "To=+862150001000",
                           "Direction=inbound", "CallStatus=ringing",  NULL};
    assert_int_equal(twilio_post_query(&f->gw, "not-the-token-0123456789abcdef",
                                       "site=a%2Fb%20c&tenant=7", again, NULL),
                     403);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA901'"),
                     0);
}

static long stored_rows(PGconn *pg)
{
    return harness_pg_long(pg, "SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM "
                               "call_events) + (SELECT count(*) FROM messages)");
}

static void test_forged_or_missing_signatures_get_403_and_store_nothing(void **state)
{
    struct fixture *f = *state;
    long before = stored_rows(f->pg);
    const char *ev[] = {"CallSid=CA800", "CallStatus=busy", "From=+8613888880008", NULL};
    assert_int_equal(twilio_post_as(&f->gw, "not-the-token", ev, NULL), 403);
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/phone/twilio", f->gw.base);
    struct harness_response r;
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded",
                 "CallSid=CA800&CallStatus=busy", 29, &r);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "missing X-Twilio-Signature"));
    harness_response_free(&r);

    const char *json = "{\"event_id\":\"forged-1\",\"call_id\":\"n-800\",\"type\":\"missed\","
                       "\"from\":\"+8613888880008\"}";
    assert_int_equal(native_post_signed(&f->gw, json, (long)time(NULL), "wrong", NULL), 403);
    char *body = NULL;
    assert_int_equal(native_post_signed(&f->gw, json, (long)time(NULL) - 301, HOOK_SECRET, &body),
                     403);
    assert_non_null(strstr(body, "5-minute window"));
    free(body);
    snprintf(url, sizeof(url), "%s/v1/phone/events", f->gw.base);
    harness_http("POST", url, NULL, "application/json", json, strlen(json), &r);
    assert_int_equal(r.status, 403);
    harness_response_free(&r);
    assert_int_equal(cti_post(f, "guess", "event=hangup&cause=busy&callId=x&from=%2B8613888880008"),
                     403);
    assert_int_equal(stored_rows(f->pg), before);
}

static void test_forged_signatures_count_towards_the_auth_failure_cap(void **state)
{
    struct fixture *f = *state;
    /* A gateway of its own that allows 3 failures a minute per address. */
    char config[1400];
    const char *base = config_with_sms("http://127.0.0.1:9/");
    snprintf(config, sizeof(config), "%.*s,\"limits\":{\"auth_failures_per_minute\":3}}",
             (int)strlen(base) - 1, base);
    struct harness_gateway capped;
    harness_gateway_start_config(&capped, f->db.url, config, NULL);
    const char *ev[] = {"CallSid=CA850", "CallStatus=busy", "From=+8613885850085", NULL};
    for (int i = 0; i < 3; i++)
        assert_int_equal(twilio_post_as(&capped, "guessed-token", ev, NULL), 403);
    /* Guessing further is refused before the signature is even checked... */
    assert_int_equal(twilio_post_as(&capped, "guessed-token", ev, NULL), 429);
    /* ...and so is the right signature from that address, for the rest of the minute. */
    assert_int_equal(twilio_post_as(&capped, TWILIO_TOKEN, ev, NULL), 429);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA850'"),
                     0);
    assert_int_equal(harness_gateway_stop(&capped), 0);
}

static void test_bad_input_gets_a_precise_4xx(void **state)
{
    struct fixture *f = *state;
    long before = stored_rows(f->pg);
    char *body = NULL;
    assert_int_equal(native_post(f, "{\"event_id\":\"b1\",\"call_id\":\"n\",", &body), 400);
    assert_non_null(strstr(body, "malformed JSON"));
    free(body);
    assert_int_equal(native_post(f,
                                 "{\"event_id\":\"b2\",\"call_id\":\"n-900\",\"type\":\"hold\","
                                 "\"from\":\"+8613899990009\"}",
                                 &body),
                     422);
    assert_non_null(strstr(body, "\"field\":\"type\""));
    free(body);
    assert_int_equal(native_post(f,
                                 "{\"event_id\":\"b3\",\"call_id\":\"n-900\",\"type\":\"missed\","
                                 "\"from\":\"call me maybe\"}",
                                 &body),
                     422);
    assert_non_null(strstr(body, "\"field\":\"from\""));
    free(body);
    assert_int_equal(cti_post(f, CTI_TOKEN, "event=transfer&callId=n-901"), 422);
    assert_int_equal(cti_post(f, CTI_TOKEN, "event=newCall&callId=n-902&from=%ZZ"), 400);
    const char *unknown_status[] = {"CallSid=CA900", "CallStatus=exploded", "From=+8613899990009",
                                    NULL};
    assert_int_equal(twilio_post(f, unknown_status), 422);

    /* Over 64 KiB: refused before the body is read to the end. */
    size_t big_len = 65 * 1024;
    char *big = malloc(big_len + 1);
    memset(big, 'a', big_len);
    big[big_len] = '\0';
    memcpy(big, "event=newCall&callId=big&x=", 27);
    char url[160];
    snprintf(url, sizeof(url), "%s/v1/phone/cti/%s", f->gw.base, CTI_TOKEN);
    struct harness_response r;
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded", big, big_len, &r);
    assert_int_equal(r.status, 413);
    harness_response_free(&r);
    free(big);
    assert_int_equal(stored_rows(f->pg), before);
}

/* Twilio's JSON webhooks: the URL carries bodySHA256 and the signature covers the URL only. */
static void test_twilio_json_body_is_checked_through_body_sha256(void **state)
{
    struct fixture *f = *state;
    const char *json =
        "{\"CallSid\":\"CA990\",\"CallStatus\":\"busy\",\"From\":\"+8613899000990\"}";
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_Digest(json, strlen(json), digest, &dlen, EVP_sha256(), NULL);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    char signed_url[256];
    snprintf(signed_url, sizeof(signed_url), PUBLIC_URL "/v1/phone/twilio?bodySHA256=%s", hex);
    unsigned char mac[20];
    unsigned int mac_len = 0;
    HMAC(EVP_sha1(), TWILIO_TOKEN, (int)strlen(TWILIO_TOKEN), (const unsigned char *)signed_url,
         strlen(signed_url), mac, &mac_len);
    char sig[64], header[128], url[256];
    EVP_EncodeBlock((unsigned char *)sig, mac, (int)mac_len);
    snprintf(header, sizeof(header), "X-Twilio-Signature: %s", sig);
    const char *headers[] = {header, "Content-Type: application/json", NULL};
    snprintf(url, sizeof(url), "%s/v1/phone/twilio?bodySHA256=%s", f->gw.base, hex);
    struct harness_response r;
    harness_http_headers("POST", url, headers, json, strlen(json), &r);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'CA990'", "missed");
    /* The same signature over a different body is refused. */
    const char *other =
        "{\"CallSid\":\"CA991\",\"CallStatus\":\"busy\",\"From\":\"+8613899000990\"}";
    harness_http_headers("POST", url, headers, other, strlen(other), &r);
    assert_int_equal(r.status, 403);
    harness_response_free(&r);
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA991'"),
                     0);
}

static void test_withheld_number_records_the_call_without_a_ticket(void **state)
{
    struct fixture *f = *state;
    const char *hidden[] = {"CallSid=CA950", "CallStatus=no-answer", "From=anonymous",
                            "To=+861012345678", NULL};
    long tickets = harness_pg_longf(f->pg, "SELECT count(*) FROM tickets");
    assert_int_equal(twilio_post(f, hidden), 200);
    text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'CA950'", "missed");
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM tickets"), tickets);
}

static void test_answered_callback_is_the_first_response(void **state)
{
    struct fixture *f = *state;
    const char *missed[] = {"CallSid=CA960",       "CallStatus=no-answer", "Direction=inbound",
                            "From=+8613896960096", "To=+861012345678",     NULL};
    assert_int_equal(twilio_post(f, missed), 200);
    char *ticket = ticket_of_call(f->pg, "twilio", "CA960");
    const char *back[] = {"CallSid=CA961",
                          "CallStatus=completed",
                          "Direction=outbound-api",
                          "From=+861012345678",
                          "To=+8613896960096",
                          "CallDuration=300",
                          NULL};
    assert_int_equal(twilio_post(f, back), 200);
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
    struct fixture f;
    int port = harness_free_port();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sms", port);
    start(&f, "phone_sms_retry", url);
    assert_int_equal(native_post(&f,
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
    finish(&f);
}

static void test_stale_calls_are_closed(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "phone_stale", "http://127.0.0.1:9/none");
    assert_int_equal(native_post(&f,
                                 "{\"event_id\":\"s-1\",\"call_id\":\"stale-ringing\",\"type\":"
                                 "\"ringing\",\"from\":\"+8613813131313\"}",
                                 NULL),
                     200);
    assert_int_equal(native_post(&f,
                                 "{\"event_id\":\"s-2\",\"call_id\":\"stale-answered\",\"type\":"
                                 "\"answered\",\"from\":\"+8613814141414\"}",
                                 NULL),
                     200);
    assert_int_equal(native_post(&f,
                                 "{\"event_id\":\"s-3\",\"call_id\":\"fresh-ringing\",\"type\":"
                                 "\"ringing\",\"from\":\"+8613815151515\"}",
                                 NULL),
                     200);
    /* Two hangups that never came: the calls fall silent for three hours. */
    assert_int_equal(harness_gateway_stop(&f.gw), 0);
    harness_pg_exec(f.pg, "UPDATE calls SET last_event_at = now() - interval '3 hours' "
                          "WHERE call_id LIKE 'stale-%'");
    harness_gateway_start_config(&f.gw, f.db.url, config_with_sms("http://127.0.0.1:9/none"), NULL);
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM calls WHERE call_id LIKE 'stale-%' AND "
                                     "ticket_id IS NOT NULL",
                                     2),
                     2);
    text_is(f.pg,
            "SELECT state || '/' || cause FROM calls WHERE call_id = "
            "'stale-ringing'",
            "missed/stale");
    text_is(f.pg,
            "SELECT state FROM calls WHERE call_id = "
            "'stale-answered'",
            "ended");
    text_is(f.pg,
            "SELECT state FROM calls WHERE call_id = "
            "'fresh-ringing'",
            "ringing");
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets t JOIN calls c ON c.ticket_id = t.id "
                               "WHERE c.call_id = 'stale-ringing' AND t.category = 'callback'"),
        1);
    /* The real hangup arriving after the sweep changes nothing. */
    assert_int_equal(native_post(&f,
                                 "{\"event_id\":\"s-4\",\"call_id\":\"stale-ringing\",\"type\":"
                                 "\"missed\",\"from\":\"+8613813131313\"}",
                                 NULL),
                     200);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets t JOIN customer_identities i ON "
                               "i.customer_id = t.customer_id WHERE i.value = "
                               "'+8613813131313'"),
        1);
    finish(&f);
}

static void test_database_down_is_503_with_retry_after(void **state)
{
    (void)state;
    struct harness_gateway gw;
    char dead[160];
    harness_unreachable_db_url(dead, sizeof(dead));
    harness_gateway_start_config(&gw, dead, config_with_sms("http://127.0.0.1:9/none"), NULL);
    struct harness_response r;
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/phone/cti/%s", gw.base, CTI_TOKEN);
    const char *form = "event=newCall&callId=down-1&from=%2B8613816161616";
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded", form, strlen(form), &r);
    assert_int_equal(r.status, 503);
    assert_true(atoi(r.retry_after) >= 1);
    harness_response_free(&r);
    assert_int_equal(harness_gateway_stop(&gw), 0);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_twilio_missed_call_becomes_callback_ticket_with_sms),
        cmocka_unit_test(test_second_missed_call_joins_open_callback_ticket),
        cmocka_unit_test(test_answered_call_is_logged_on_the_open_ticket),
        cmocka_unit_test(test_voicemail_ticket_carries_transcript_and_recording),
        cmocka_unit_test(test_media_after_the_end_joins_the_calls_ticket_once),
        cmocka_unit_test(test_events_out_of_order_land_correctly),
        cmocka_unit_test(test_replays_store_nothing_twice),
        cmocka_unit_test(test_parallel_copies_and_events_of_one_call_make_one_ticket),
        cmocka_unit_test(test_missed_calls_of_one_caller_at_once_on_two_workers_share_a_ticket),
        cmocka_unit_test(test_first_contacts_of_one_new_number_at_once_share_a_customer),
        cmocka_unit_test(test_twilio_callback_url_with_an_escaped_query_verifies),
        cmocka_unit_test(test_forged_or_missing_signatures_get_403_and_store_nothing),
        cmocka_unit_test(test_forged_signatures_count_towards_the_auth_failure_cap),
        cmocka_unit_test(test_bad_input_gets_a_precise_4xx),
        cmocka_unit_test(test_twilio_json_body_is_checked_through_body_sha256),
        cmocka_unit_test(test_withheld_number_records_the_call_without_a_ticket),
        cmocka_unit_test(test_answered_callback_is_the_first_response),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_sms_is_retried_after_the_provider_was_down),
        cmocka_unit_test(test_stale_calls_are_closed),
        cmocka_unit_test(test_database_down_is_503_with_retry_after),
    };
    int failed = cmocka_run_group_tests_name("phone", shared, setup, teardown);
    return failed + cmocka_run_group_tests_name("phone, own gateways", own, NULL, NULL);
}
