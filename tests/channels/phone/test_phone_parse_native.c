/*
 * The phone channel's own signed JSON route (POST /v1/phone/events), no
 * server: event types, the fixture and voicemail, times, withheld numbers,
 * refusals field by field and signatures refused. Requests are signed now
 * by tests/support/signers.c.
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
#include "phone.h"

static void test_native_types(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    static const struct {
        const char *type;
        int respond_within_s;
    } cases[] = {
        {"ringing", 0}, {"answered", 0}, {"missed", 45 * 60}, {"ended", 0}, {"voicemail", 45 * 60}};
    for (size_t i = 0; i < N(cases); i++) {
        const char *body = gw_arena_printf(
            arena,
            "{\"event_id\": \"ev-%s\", \"call_id\": \"pbx-7\", \"type\": \"%s\","
            " \"from\": \"+8613800138000\", \"to\": \"+861088886666\", \"direction\": \"in\","
            " \"duration\": 42, \"caller_name\": \"Li Na\"}",
            cases[i].type, cases[i].type);
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  type=%s\n", cases[i].type);
        assert_parsed(route_native_post(arena, body, &c, &reply), &reply);
        assert_str(phone_call_of(&c)->provider, "native");
        assert_str(phone_call_of(&c)->kind, cases[i].type);
        assert_str(phone_call_of(&c)->call_id, "pbx-7");
        assert_int_equal(phone_call_of(&c)->duration_s, 42);
        assert_str(c.sender.phone, "+8613800138000");
        assert_str(c.sender.name, "Li Na");
        assert_int_equal(c.respond_within_s, cases[i].respond_within_s);
        assert_str(c.idempotency_key, gw_arena_printf(arena, "phone:native:ev-%s", cases[i].type));
        assert_str(c.external_ref, "call:native:pbx-7");
    }
}

static void test_native_fixture_and_voicemail(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    char *body = route_fixture("native_missed.json");
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_native_post(arena, body, &c, &reply), &reply);
    free(body);
    assert_str(phone_call_of(&c)->kind, "missed");
    assert_int_equal(phone_call_of(&c)->at, T_2026_11_21);
    assert_int_equal(c.received_at, T_2026_11_21);
    assert_int_equal(phone_call_of(&c)->duration_s, -1);
    assert_str(phone_call_of(&c)->to, "+861088886666");
    assert_str(c.idempotency_key, "phone:native:ev-1001");
    assert_int_equal(c.respond_within_s, 45 * 60);
    assert_contains(c.subject, "+8613800138000");

    const char *vm = "{\"event_id\": \"ev-vm\", \"call_id\": \"pbx-8\", \"type\": \"voicemail\","
                     " \"from\": \"013800138000\", \"transcript\": \"我的订单还没到，请回电。\","
                     " \"recording_url\": \"https://pbx.example.com/rec/8.wav\"}";
    assert_parsed(route_native_post(arena, vm, &c, &reply), &reply);
    assert_str(phone_call_of(&c)->transcript, "我的订单还没到，请回电。");
    assert_str(phone_call_of(&c)->recording_url, "https://pbx.example.com/rec/8.wav");
    assert_str(c.sender.phone, "+8613800138000");
    assert_contains(c.body, "我的订单还没到，请回电。");
    assert_contains(c.body, "https://pbx.example.com/rec/8.wav");
}

static void test_native_rejections(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    static const struct {
        const char *body;
        int status;
        const char *field;
    } cases[] = {
        /* unknown type */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"exploded\"}", 422, "type"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\"}", 422, "type"},
        /* unknown field, named */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"colour\": \"red\"}",
         400, "colour"},
        /* wrong types */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"from\": 8613800138000}",
         400, "from"},
        {"{\"event_id\": 17, \"call_id\": \"c\", \"type\": \"missed\"}", 400, "event_id"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": [\"missed\"]}", 400, "type"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"voicemail\", \"transcript\": {}}",
         400, "transcript"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"duration\": \"60\"}",
         400, "duration"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"at\": true}", 400, "at"},
        /* values */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"duration\": -1}", 422,
         "duration"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"duration\": 604801}",
         422, "duration"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"voicemail\","
         " \"recording_url\": \"ftp://pbx.example.com/8.wav\"}",
         422, "recording_url"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"voicemail\","
         " \"recording_url\": \"javascript:alert(1)\"}",
         422, "recording_url"},
        {"{\"call_id\": \"c\", \"type\": \"missed\"}", 422, "event_id"},
        {"{\"event_id\": \"\", \"call_id\": \"c\", \"type\": \"missed\"}", 422, "event_id"},
        {"{\"event_id\": \"e\", \"type\": \"missed\", \"from\": \"+8613800138000\"}", 422,
         "call_id"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"from\": \"12ab\"}", 422,
         "from"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"at\": \"yesterday\"}",
         422, "at"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"direction\": \"up\"}",
         422, "direction"},
        /* malformed JSON, not an object, duplicate keys */
        {"{\"event_id\": \"e\", \"call_id\": ", 400, NULL},
        {"[1, 2]", 400, NULL},
        {"", 400, NULL},
        {"{\"event_id\": \"e\", \"event_id\": \"f\", \"call_id\": \"c\", \"type\": \"missed\"}",
         400, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  %s\n", cases[i].body);
        enum gw_err err = route_native_post(arena, cases[i].body, &c, &reply);
        assert_rejected(err, &reply, cases[i].status, cases[i].field);
    }
}

static void test_native_at(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    const char *const ats[] = {"\"2026-11-21T18:00:00+08:00\"", "\"2026-11-21T10:00:00Z\"",
                               "\"2026-11-21T05:30:00.500-04:30\"", "1795255200", "\"1795255200\""};
    for (size_t i = 0; i < N(ats); i++) {
        const char *body =
            gw_arena_printf(arena,
                            "{\"event_id\": \"at-%zu\", \"call_id\": \"c\", \"type\": \"ringing\","
                            " \"from\": \"+8613800138000\", \"at\": %s}",
                            i, ats[i]);
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  at: %s\n", ats[i]);
        assert_parsed(route_native_post(arena, body, &c, &reply), &reply);
        assert_int_equal(phone_call_of(&c)->at, T_2026_11_21);
        assert_int_equal(c.received_at, T_2026_11_21);
    }
    /* No "at": now. */
    struct gw_contact c;
    struct gw_http_reply reply;
    time_t before = time(NULL);
    assert_parsed(
        route_native_post(arena,
                          "{\"event_id\": \"at-now\", \"call_id\": \"c\", \"type\": \"ringing\","
                          " \"from\": \"+8613800138000\"}",
                          &c, &reply),
        &reply);
    assert_int_equal(phone_call_of(&c)->at, 0);
    assert_true(c.received_at >= before && c.received_at <= time(NULL));
}

static void test_native_signature_refused(void **state)
{
    struct gw_arena *arena = *state;
    char *body = route_fixture("native_missed.json");
    struct gw_contact c;
    struct gw_http_reply reply;
    char sig[128];
    signer_intake(WEBHOOK_SECRET, (long)time(NULL), body, strlen(body), sig);
    struct route_request r = {
        .path = "/v1/phone/events", .content_type = JSON_CT, .body = body, .intake_sig = sig};

    /* Secret unset: refused even with a good signature. */
    assert_rejected(route_run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    assert_parsed(route_run(phone_native_parse, &r, arena, &c, &reply), &reply);
    /* Missing. */
    r.intake_sig = NULL;
    assert_rejected(route_run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* The openssl vector is for 2026-11-21; now it is outside the window. */
    r.intake_sig = gw_arena_printf(arena, "t=%ld,v1=%s", T_2026_11_21, native_sig);
    if (labs((long)time(NULL) - T_2026_11_21) > PHONE_SIGNATURE_SKEW)
        assert_rejected(route_run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* Signed with another secret, or too long ago. */
    signer_intake(OLD_SECRET, (long)time(NULL), body, strlen(body), sig);
    r.intake_sig = sig;
    assert_rejected(route_run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    signer_intake(WEBHOOK_SECRET, (long)time(NULL) - 400, body, strlen(body), sig);
    assert_rejected(route_run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* Signed, then the body changed. */
    signer_intake(WEBHOOK_SECRET, (long)time(NULL), body, strlen(body), sig);
    *strstr(body, "missed") = 'k';
    assert_rejected(route_run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    free(body);

    /* A signed body of another type. */
    const char *text = "{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\"}";
    signer_intake(WEBHOOK_SECRET, (long)time(NULL), text, strlen(text), sig);
    struct route_request plain = {
        .path = "/v1/phone/events", .content_type = "text/plain", .body = text, .intake_sig = sig};
    assert_rejected(route_run(phone_native_parse, &plain, arena, &c, &reply), &reply, 415, NULL);
}

static void test_native_withheld(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    const char *const hidden[] = {"\"anonymous\"", "\"Restricted\"", "\"\"", "null"};
    for (size_t i = 0; i < N(hidden); i++) {
        const char *body =
            gw_arena_printf(arena,
                            "{\"event_id\": \"w-%zu\", \"call_id\": \"c\", \"type\": \"missed\","
                            " \"from\": %s, \"to\": \"+861088886666\"}",
                            i, hidden[i]);
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  from: %s\n", hidden[i]);
        assert_parsed(route_native_post(arena, body, &c, &reply), &reply);
        assert_null(c.sender.phone);
        assert_null(phone_call_of(&c)->from);
        assert_str(phone_call_of(&c)->to, "+861088886666");
        assert_contains(c.subject, "withheld");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROUTE_TEST(test_native_types),
        ROUTE_TEST(test_native_fixture_and_voicemail),
        ROUTE_TEST(test_native_rejections),
        ROUTE_TEST(test_native_at),
        ROUTE_TEST(test_native_signature_refused),
        ROUTE_TEST(test_native_withheld),
    };
    return cmocka_run_group_tests_name("phone native route", tests, route_group_setup,
                                       route_group_teardown);
}
