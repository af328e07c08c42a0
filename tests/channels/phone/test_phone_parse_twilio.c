/*
 * The phone channel's Twilio route, no server: status, recording and
 * transcription callbacks (form-encoded and JSON with bodySHA256) through
 * phone_twilio_parse as the core hands them over, the URL Twilio signed
 * (public_url, query), refusals and what Twilio is answered. Requests are
 * signed by tests/support/signers.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "phone_routes.h"
#include "gw_intake.h"
#include "phone.h"

static void test_twilio_fixture_request(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = route_fixture("twilio_status_completed.form");
    struct route_request r = {
        .path = TWILIO_PATH, .content_type = FORM_CT, .body = body, .twilio_sig = twilio_form_sig};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply);
    free(body);
    assert_str(c.channel, "phone");
    assert_str(c.idempotency_key,
               "phone:twilio:CA11111111111111111111111111111111:status:completed");
    assert_str(c.external_ref, "call:twilio:CA11111111111111111111111111111111");
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(c.sender.name, "Zhang Wei");
    assert_int_equal(c.received_at, T_2026_11_21);
    assert_int_equal(c.respond_within_s, 0);
    assert_non_null(c.subject);
    assert_non_null(c.body);
    assert_non_null(phone_call_of(&c));
    assert_str(phone_call_of(&c)->provider, "twilio");
    assert_str(phone_call_of(&c)->call_id, "CA11111111111111111111111111111111");
    assert_str(phone_call_of(&c)->kind, "ended");
    assert_null(phone_call_of(&c)->cause);
    assert_str(phone_call_of(&c)->direction, "in");
    assert_str(phone_call_of(&c)->from, "+8613800138000");
    assert_str(phone_call_of(&c)->to, "+861088886666");
    assert_int_equal(phone_call_of(&c)->duration_s, 75);
    assert_int_equal(phone_call_of(&c)->at, T_2026_11_21);

    /* Content-Type with a charset parameter is the same form. */
    body = route_fixture("twilio_status_completed.form");
    r.body = body;
    r.content_type = FORM_CT "; charset=utf-8";
    assert_parsed(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply);
    free(body);
}

/* The URL signed is the configured public_url (a trailing '/' aside) plus the path and query. */
static void test_twilio_public_url(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    struct gw_config *slash = route_load_config("{\"public_url\": \"" PUBLIC_URL "/\"}");
    struct gw_config *other = route_load_config("{\"public_url\": \"https://other.example.com\"}");
    assert_non_null(slash);
    assert_non_null(other);
    char *body = route_fixture("twilio_status_completed.form");
    struct route_request r = {.path = TWILIO_PATH,
                              .content_type = FORM_CT,
                              .body = body,
                              .twilio_sig = twilio_form_sig,
                              .cfg = slash};
    struct gw_contact c;
    struct gw_http_reply reply;
    enum gw_err with_slash = route_run(phone_twilio_parse, &r, arena, &c, &reply);
    r.cfg = other;
    enum gw_err other_host = route_run(phone_twilio_parse, &r, arena, &c, &reply);
    int other_host_status = reply.status;
    gw_config_free(slash);
    gw_config_free(other);
    assert_int_equal(with_slash, GW_OK);
    assert_int_equal(other_host, GW_ERR_INVALID);
    assert_int_equal(other_host_status, 403);

    /* A status callback URL with a query: the query is part of what Twilio signed. */
    const struct form_field f[] = {{"CallSid", "CADDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"},
                                   {"From", "+8613800138000"},
                                   {"CallStatus", "ringing"}};
    char *form = route_form_encode(f, N(f));
    char sig[64];
    signer_twilio(TWILIO_TOKEN, TWILIO_URL "?tenant=7", f, N(f), sig);
    struct route_request q = {.path = TWILIO_PATH,
                              .query = "tenant=7",
                              .content_type = FORM_CT,
                              .body = form,
                              .twilio_sig = sig};
    enum gw_err with_query = route_run(phone_twilio_parse, &q, arena, &c, &reply);
    q.query = "tenant=8";
    enum gw_err other_query = route_run(phone_twilio_parse, &q, arena, &c, &reply);
    /* Escaped in the URL Twilio signed, decoded by the time it reaches the channel. */
    signer_twilio(TWILIO_TOKEN, TWILIO_URL "?site=a%2Fb%20c%E4%B8%AD&tenant=7", f, N(f), sig);
    q.query = "site=a/b c\xe4\xb8\xad&tenant=7";
    enum gw_err escaped = route_run(phone_twilio_parse, &q, arena, &c, &reply);
    q.query = "site=a/b d\xe4\xb8\xad&tenant=7";
    enum gw_err escaped_other = route_run(phone_twilio_parse, &q, arena, &c, &reply);
    free(form);
    free(body);
    assert_int_equal(with_query, GW_OK);
    assert_rejected(other_query, &reply, 403, NULL);
    assert_int_equal(escaped, GW_OK);
    assert_int_equal(escaped_other, GW_ERR_INVALID);
}

static void test_twilio_call_statuses(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    static const struct {
        const char *status, *kind, *cause;
    } cases[] = {
        {"queued", "ringing", NULL},        {"initiated", "ringing", NULL},
        {"ringing", "ringing", NULL},       {"in-progress", "answered", NULL},
        {"answered", "answered", NULL},     {"completed", "ended", NULL},
        {"busy", "missed", "busy"},         {"no-answer", "missed", "no-answer"},
        {"canceled", "missed", "canceled"}, {"failed", "missed", "failed"},
    };
    const char *keys[N(cases)];
    for (size_t i = 0; i < N(cases); i++) {
        const struct form_field f[] = {{"CallSid", "CA33333333333333333333333333333333"},
                                       {"From", "+8613800138000"},
                                       {"To", "+861088886666"},
                                       {"Direction", "inbound"},
                                       {"CallStatus", cases[i].status}};
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  CallStatus=%s\n", cases[i].status);
        assert_parsed(route_twilio_post(arena, f, N(f), &c, &reply), &reply);
        assert_non_null(phone_call_of(&c));
        assert_str(phone_call_of(&c)->kind, cases[i].kind);
        assert_str(phone_call_of(&c)->cause, cases[i].cause);
        assert_str(phone_call_of(&c)->direction, "in");
        assert_str(c.sender.phone, "+8613800138000");
        /* A missed call is a callback due in callback_within_minutes (45). */
        assert_int_equal(c.respond_within_s, cases[i].cause ? 45 * 60 : 0);
        keys[i] = c.idempotency_key;
        assert_str(keys[i], gw_arena_printf(
                                arena, "phone:twilio:CA33333333333333333333333333333333:status:%s",
                                cases[i].status));
    }
    for (size_t i = 0; i < N(cases); i++)
        for (size_t j = i + 1; j < N(cases); j++)
            assert_true(strcmp(keys[i], keys[j]) != 0);
}

static void test_twilio_replay_same_key(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const struct form_field f[] = {{"CallSid", "CA44444444444444444444444444444444"},
                                   {"From", "+8613800138000"},
                                   {"To", "+861088886666"},
                                   {"CallStatus", "busy"},
                                   {"SequenceNumber", "2"}};
    struct gw_contact c1, c2;
    struct gw_http_reply reply;
    assert_parsed(route_twilio_post(arena, f, N(f), &c1, &reply), &reply);
    assert_parsed(route_twilio_post(arena, f, N(f), &c2, &reply), &reply);
    assert_non_null(c1.idempotency_key);
    assert_str(c1.idempotency_key, c2.idempotency_key);
    assert_str(c1.external_ref, c2.external_ref);
    /* Another call's same status is another event. */
    const struct form_field g[] = {{"CallSid", "CA55555555555555555555555555555555"},
                                   {"From", "+8613800138000"},
                                   {"CallStatus", "busy"}};
    assert_parsed(route_twilio_post(arena, g, N(g), &c2, &reply), &reply);
    assert_true(strcmp(c1.idempotency_key, c2.idempotency_key) != 0);
}

static void test_twilio_recording_callback(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const char *url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1";
    const struct form_field done[] = {{"AccountSid", "AC00000000000000000000000000000001"},
                                      {"CallSid", "CA66666666666666666666666666666666"},
                                      {"RecordingSid", "RE66666666666666666666666666666666"},
                                      {"RecordingUrl", url},
                                      {"RecordingDuration", "30"},
                                      {"RecordingStatus", "completed"},
                                      {"RecordingChannels", "1"},
                                      {"RecordingSource", "RecordVerb"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_twilio_post(arena, done, N(done), &c, &reply), &reply);
    assert_str(phone_call_of(&c)->kind, "recording");
    assert_str(phone_call_of(&c)->recording_url, url);
    assert_int_equal(phone_call_of(&c)->duration_s, 30);
    assert_null(phone_call_of(&c)->transcript);
    assert_null(c.sender.phone);
    assert_str(c.idempotency_key, "phone:twilio:CA66666666666666666666666666666666:recording:"
                                  "RE66666666666666666666666666666666");
    assert_contains(c.body, url);

    /* Still being recorded: a 200 for Twilio, nothing registered. */
    const struct form_field busy[] = {{"CallSid", "CA66666666666666666666666666666666"},
                                      {"RecordingSid", "RE66666666666666666666666666666666"},
                                      {"RecordingUrl", url},
                                      {"RecordingStatus", "in-progress"}};
    route_assert_twiml_nothing(route_twilio_post(arena, busy, N(busy), &c, &reply), &reply);
    const struct form_field absent[] = {{"CallSid", "CA66666666666666666666666666666666"},
                                        {"RecordingSid", "RE66666666666666666666666666666666"},
                                        {"RecordingStatus", "absent"}};
    route_assert_twiml_nothing(route_twilio_post(arena, absent, N(absent), &c, &reply), &reply);

    /* Completed without a URL, or with a duration that is not one. */
    const struct form_field no_url[] = {{"CallSid", "CA66666666666666666666666666666666"},
                                        {"RecordingSid", "RE66666666666666666666666666666666"},
                                        {"RecordingStatus", "completed"}};
    assert_rejected(route_twilio_post(arena, no_url, N(no_url), &c, &reply), &reply, 422,
                    "RecordingUrl");
    const struct form_field bad_dur[] = {{"CallSid", "CA66666666666666666666666666666666"},
                                         {"RecordingSid", "RE66666666666666666666666666666666"},
                                         {"RecordingUrl", url},
                                         {"RecordingDuration", "thirty"}};
    assert_rejected(route_twilio_post(arena, bad_dur, N(bad_dur), &c, &reply), &reply, 422,
                    "RecordingDuration");
}

static void test_twilio_transcription_callback(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const char *text = "Hello, please call me back about order 1234.";
    const struct form_field done[] = {{"CallSid", "CA77777777777777777777777777777777"},
                                      {"TranscriptionSid", "TR77777777777777777777777777777777"},
                                      {"TranscriptionText", text},
                                      {"TranscriptionStatus", "completed"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_twilio_post(arena, done, N(done), &c, &reply), &reply);
    assert_str(phone_call_of(&c)->kind, "transcript");
    assert_str(phone_call_of(&c)->transcript, text);
    assert_str(c.idempotency_key, "phone:twilio:CA77777777777777777777777777777777:transcript:"
                                  "TR77777777777777777777777777777777");
    assert_contains(c.body, text);

    const struct form_field failed[] = {{"CallSid", "CA77777777777777777777777777777777"},
                                        {"TranscriptionSid", "TR77777777777777777777777777777777"},
                                        {"TranscriptionText", ""},
                                        {"TranscriptionStatus", "failed"}};
    route_assert_twiml_nothing(route_twilio_post(arena, failed, N(failed), &c, &reply), &reply);
}

/*
 * Twilio's transcribeCallback also carries the RecordingSid and RecordingUrl
 * of the recording transcribed (and no RecordingStatus); it is still a
 * transcript, not a second copy of the recording.
 */
static void test_twilio_transcription_with_recording_fields(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const char *text = "This is Li Na, my router keeps dropping the connection.";
    const struct form_field real[] = {
        {"AccountSid", "AC00000000000000000000000000000001"},
        {"CallSid", "CA88888888888888888888888888888888"},
        {"From", "+8613800138000"},
        {"To", "+861088886666"},
        {"CallStatus", "completed"},
        {"ApiVersion", "2010-04-01"},
        {"Direction", "inbound"},
        {"TranscriptionSid", "TR88888888888888888888888888888888"},
        {"TranscriptionText", text},
        {"TranscriptionStatus", "completed"},
        {"TranscriptionUrl", "https://api.twilio.com/2010-04-01/Accounts/AC1/Transcriptions/"
                             "TR88888888888888888888888888888888"},
        {"RecordingSid", "RE88888888888888888888888888888888"},
        {"RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/"
                         "RE88888888888888888888888888888888"},
    };
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_twilio_post(arena, real, N(real), &c, &reply), &reply);
    assert_str(phone_call_of(&c)->kind, "transcript");
    assert_str(phone_call_of(&c)->transcript, text);
    assert_contains(c.idempotency_key, ":transcript:TR88888888888888888888888888888888");
}

static void test_twilio_json_body(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = route_fixture("twilio_status_no_answer.json");
    struct route_request r = {.path = TWILIO_PATH,
                              .query = gw_arena_printf(arena, "bodySHA256=%s", twilio_json_sha256),
                              .content_type = JSON_CT,
                              .body = body,
                              .twilio_sig = twilio_json_sig};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply);
    assert_str(phone_call_of(&c)->kind, "missed");
    assert_str(phone_call_of(&c)->cause, "no-answer");
    assert_str(phone_call_of(&c)->call_id, "CA22222222222222222222222222222222");
    assert_str(c.sender.phone, "+8613800138000");
    assert_int_equal(c.respond_within_s, 45 * 60);

    /* A hash that is not the body's, even when the URL carrying it is signed. */
    char wrong[65];
    memcpy(wrong, twilio_json_sha256, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    r.query = gw_arena_printf(arena, "bodySHA256=%s", wrong);
    char sig[64];
    signer_twilio(TWILIO_TOKEN, gw_arena_printf(arena, "%s?%s", TWILIO_URL, r.query), NULL, 0, sig);
    r.twilio_sig = sig;
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);

    /* No bodySHA256 at all. */
    r.query = NULL;
    r.twilio_sig = twilio_url_only_sig;
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);

    /* The right hash but the body changed after signing. */
    r.query = gw_arena_printf(arena, "bodySHA256=%s", twilio_json_sha256);
    r.twilio_sig = twilio_json_sig;
    *strstr(body, "no-answer") = 'N';
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    free(body);
}

static void test_twilio_signature_refused(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = route_fixture("twilio_status_completed.form");
    struct route_request r = {.path = TWILIO_PATH, .content_type = FORM_CT, .body = body};
    struct gw_contact c;
    struct gw_http_reply reply;

    /* Missing, empty. */
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    assert_contains(route_error(arena, &reply), "X-Twilio-Signature");
    r.twilio_sig = "";
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* Someone else's token, and a valid signature for another URL. */
    r.twilio_sig = twilio_doc_sig;
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    r.twilio_sig = twilio_form_sig;
    r.path = "/v1/phone/twilio2";
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    r.path = TWILIO_PATH;
    /* A field changed after signing. */
    char *tampered = gw_arena_strdup(arena, body);
    *strstr(tampered, "CallDuration=75") = 'c';
    r.body = tampered;
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* A field added after signing. */
    r.body = gw_arena_printf(arena, "%s&Extra=1", body);
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* The right body and signature, once more, is fine (the refusals were not by accident). */
    r.body = body;
    assert_parsed(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply);

    /* Auth token unset: nothing verifies, 403 (not 500, not accepted). */
    unsetenv("INTAKE_TWILIO_AUTH_TOKEN");
    assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    assert_contains(route_error(arena, &reply), "INTAKE_TWILIO_AUTH_TOKEN");
    free(body);
}

static void test_twilio_bad_fields(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;

    const struct form_field unknown[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                         {"From", "+8613800138000"},
                                         {"CallStatus", "exploded"}};
    assert_rejected(route_twilio_post(arena, unknown, N(unknown), &c, &reply), &reply, 422,
                    "CallStatus");
    const struct form_field no_status[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                           {"From", "+8613800138000"}};
    assert_rejected(route_twilio_post(arena, no_status, N(no_status), &c, &reply), &reply, 422,
                    "CallStatus");
    const struct form_field no_sid[] = {{"From", "+8613800138000"}, {"CallStatus", "ringing"}};
    assert_rejected(route_twilio_post(arena, no_sid, N(no_sid), &c, &reply), &reply, 422,
                    "CallSid");
    const struct form_field empty_sid[] = {
        {"CallSid", ""}, {"From", "+8613800138000"}, {"CallStatus", "ringing"}};
    assert_rejected(route_twilio_post(arena, empty_sid, N(empty_sid), &c, &reply), &reply, 422,
                    "CallSid");
    const struct form_field bad_dur[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                         {"From", "+8613800138000"},
                                         {"CallStatus", "completed"},
                                         {"CallDuration", "-3"}};
    assert_rejected(route_twilio_post(arena, bad_dur, N(bad_dur), &c, &reply), &reply, 422,
                    "CallDuration");
    const struct form_field bad_from[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                          {"From", "+86 138 abc"},
                                          {"CallStatus", "ringing"}};
    assert_rejected(route_twilio_post(arena, bad_from, N(bad_from), &c, &reply), &reply, 422,
                    "from");
}

static void test_twilio_malformed_body(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *const bad[] = {
        "CallSid=CA1&From=%ZZ8613800138000&CallStatus=ringing",
        "CallSid=CA1&From=%2&CallStatus=ringing",
        "CallSid=CA1&CallStatus=ringing&From=%",
        "CallSid=CA1&CallerName=%FF%FE&CallStatus=ringing",
        "CallSid=CA1&CallerName=a%00b&CallStatus=ringing",
    };
    for (size_t i = 0; i < N(bad); i++) {
        struct route_request r = {.path = TWILIO_PATH,
                                  .content_type = FORM_CT,
                                  .body = bad[i],
                                  .twilio_sig = twilio_url_only_sig};
        print_message("  %s\n", bad[i]);
        assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 400, NULL);
    }
    struct route_request json = {.path = TWILIO_PATH,
                                 .query =
                                     gw_arena_printf(arena, "bodySHA256=%s", twilio_json_sha256),
                                 .content_type = JSON_CT,
                                 .body = "{\"CallSid\": ",
                                 .twilio_sig = twilio_json_sig};
    assert_rejected(route_run(phone_twilio_parse, &json, arena, &c, &reply), &reply, 400, NULL);

    /* An empty POST (the core passes a NULL body) is signed over the URL alone. */
    struct route_request empty = {
        .path = TWILIO_PATH, .content_type = FORM_CT, .twilio_sig = twilio_url_only_sig};
    assert_rejected(route_run(phone_twilio_parse, &empty, arena, &c, &reply), &reply, 422,
                    "CallSid");
}

static void test_twilio_wrong_content_type(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = route_fixture("twilio_status_completed.form");
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *const types[] = {"text/plain", "multipart/form-data; boundary=x",
                                 "application/x-www-form-urlencodedX", NULL};
    for (size_t i = 0; i < N(types); i++) {
        struct route_request r = {.path = TWILIO_PATH,
                                  .content_type = types[i],
                                  .body = body,
                                  .twilio_sig = twilio_form_sig};
        print_message("  Content-Type: %s\n", types[i] ? types[i] : "(none)");
        assert_rejected(route_run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 415, NULL);
    }
    free(body);
}

static void test_twilio_outbound(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const struct form_field f[] = {{"CallSid", "CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                                   {"From", "+861088886666"},
                                   {"To", "+8613800138000"},
                                   {"Direction", "outbound-api"},
                                   {"CallStatus", "completed"},
                                   {"CallDuration", "125"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_twilio_post(arena, f, N(f), &c, &reply), &reply);
    assert_str(phone_call_of(&c)->direction, "out");
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(phone_call_of(&c)->from, "+861088886666");
    assert_str(phone_call_of(&c)->to, "+8613800138000");
    assert_int_equal(phone_call_of(&c)->duration_s, 125);
    assert_contains(c.subject, "+8613800138000");
    assert_contains(c.body, "2 min 5 s");

    /* A customer number that is not one is the To of an outbound call. */
    const struct form_field g[] = {{"CallSid", "CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                                   {"From", "+861088886666"},
                                   {"To", "12ab"},
                                   {"Direction", "outbound-dial"},
                                   {"CallStatus", "ringing"}};
    assert_rejected(route_twilio_post(arena, g, N(g), &c, &reply), &reply, 422, "to");
}

static void test_twilio_caller_name_and_client(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const struct form_field named[] = {{"CallSid", "CABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"},
                                       {"From", "+8613800138000"},
                                       {"To", "+861088886666"},
                                       {"CallerName", "Wang Fang"},
                                       {"CallStatus", "ringing"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_twilio_post(arena, named, N(named), &c, &reply), &reply);
    assert_str(c.sender.name, "Wang Fang");
    assert_contains(c.body, "Wang Fang");

    /* A Twilio Client (or SIP) caller has no number to call back, and that is not an error. */
    const char *const endpoints[] = {"client:alice", "sip:alice@example.com"};
    for (size_t i = 0; i < N(endpoints); i++) {
        const struct form_field client[] = {{"CallSid", "CACCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"},
                                            {"From", endpoints[i]},
                                            {"To", "+861088886666"},
                                            {"CallStatus", "no-answer"}};
        assert_parsed(route_twilio_post(arena, client, N(client), &c, &reply), &reply);
        assert_null(c.sender.phone);
        assert_null(phone_call_of(&c)->from);
        assert_str(phone_call_of(&c)->to, "+861088886666");
        assert_str(phone_call_of(&c)->kind, "missed");
    }
}

static void test_twilio_respond(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_intake_result res;
    memset(&res, 0, sizeof(res));
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    phone_twilio_respond(&res, arena, &reply);
    assert_int_equal(reply.status, 200);
    assert_str(reply.content_type, "text/xml");
    assert_contains(reply.body, "<Response/>");
    res.err = GW_ERR_DB_UNAVAILABLE;
    memset(&reply, 0, sizeof(reply));
    phone_twilio_respond(&res, arena, &reply);
    assert_int_equal(reply.status, 503);
    assert_true(reply.retry_after_s > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROUTE_TEST(test_twilio_fixture_request),
        ROUTE_TEST(test_twilio_public_url),
        ROUTE_TEST(test_twilio_call_statuses),
        ROUTE_TEST(test_twilio_replay_same_key),
        ROUTE_TEST(test_twilio_recording_callback),
        ROUTE_TEST(test_twilio_transcription_callback),
        ROUTE_TEST(test_twilio_transcription_with_recording_fields),
        ROUTE_TEST(test_twilio_json_body),
        ROUTE_TEST(test_twilio_signature_refused),
        ROUTE_TEST(test_twilio_bad_fields),
        ROUTE_TEST(test_twilio_malformed_body),
        ROUTE_TEST(test_twilio_wrong_content_type),
        ROUTE_TEST(test_twilio_outbound),
        ROUTE_TEST(test_twilio_caller_name_and_client),
        ROUTE_TEST(test_twilio_respond),
    };
    return cmocka_run_group_tests_name("phone Twilio route", tests, route_group_setup,
                                       route_group_teardown);
}
