/*
 * The phone channel's generic CTI route (a PBX bridge posting call events,
 * its token in the path), no server: events and hang-up causes, form and
 * JSON bodies, the token, numbers as PBXs write them, and refusals.
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

static void test_cti_events(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    static const struct {
        const char *event, *cause, *kind;
    } cases[] = {
        {"newCall", NULL, "ringing"},          {"answer", NULL, "answered"},
        {"hangup", "normalClearing", "ended"}, {"hangup", "busy", "missed"},
        {"hangup", "cancel", "missed"},        {"hangup", "noAnswer", "missed"},
        {"hangup", "congestion", "missed"},    {"hangup", "notFound", "missed"},
        {"hangup", "forwarded", "forwarded"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *body = gw_arena_printf(
            arena, "event=%s&callId=pbx-%zu&from=%%2B8613800138000&to=8001&direction=in%s%s",
            cases[i].event, i, cases[i].cause ? "&cause=" : "",
            cases[i].cause ? cases[i].cause : "");
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  %s\n", body);
        assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT, body, &c, &reply), &reply);
        assert_str(c.channel, "phone");
        assert_str(phone_call_of(&c)->provider, "cti");
        assert_str(phone_call_of(&c)->kind, cases[i].kind);
        assert_str(phone_call_of(&c)->cause, cases[i].cause);
        assert_str(phone_call_of(&c)->direction, "in");
        assert_str(c.sender.phone, "+8613800138000");
        assert_str(phone_call_of(&c)->call_id, gw_arena_printf(arena, "pbx-%zu", i));
        assert_str(c.idempotency_key,
                   gw_arena_printf(arena, "phone:cti:pbx-%zu:%s", i, cases[i].event));
        assert_int_equal(c.respond_within_s, !strcmp(cases[i].kind, "missed") ? 45 * 60 : 0);
    }
}

static void test_cti_rejections(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_rejected(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                   "event=transfer&callId=p1&from=013800138000", &c, &reply),
                    &reply, 422, "event");
    assert_rejected(
        route_cti_post(arena, CTI_TOKEN, FORM_CT, "callId=p1&from=013800138000", &c, &reply),
        &reply, 422, "event");
    assert_rejected(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                   "event=hangup&callId=p1&from=013800138000", &c, &reply),
                    &reply, 422, "cause");
    assert_rejected(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                   "event=hangup&cause=exploded&callId=p1&from=013800138000", &c,
                                   &reply),
                    &reply, 422, "cause");
    assert_rejected(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                   "event=newCall&callId=p1&from=013800138000&direction=sideways",
                                   &c, &reply),
                    &reply, 422, "direction");
    assert_rejected(
        route_cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&from=013800138000", &c, &reply),
        &reply, 422, "callId");
    assert_rejected(
        route_cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=p1&from=12ab", &c, &reply),
        &reply, 422, "from");
    assert_rejected(
        route_cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=p1&from=%G0", &c, &reply),
        &reply, 400, NULL);
    assert_rejected(
        route_cti_post(arena, CTI_TOKEN, "text/plain", "event=newCall&callId=p1", &c, &reply),
        &reply, 415, NULL);
}

static void test_cti_token(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *body = "event=newCall&callId=p1&from=013800138000";
    /* Not configured: nothing is accepted. */
    assert_rejected(route_cti_post(arena, CTI_TOKEN, FORM_CT, body, &c, &reply), &reply, 403, NULL);
    assert_contains(route_error(arena, &reply), "INTAKE_CTI_TOKEN");
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    const char *const wrong[] = {"cti-test-token-5a2c", "cti-test-token-5a2",
                                 "cti-test-token-5a2bb", "CTI-TEST-TOKEN-5A2B"};
    for (size_t i = 0; i < N(wrong); i++)
        assert_rejected(route_cti_post(arena, wrong[i], FORM_CT, body, &c, &reply), &reply, 403,
                        NULL);
    /* The token is checked before the body is read: a bad body still gets 403. */
    assert_rejected(route_cti_post(arena, "nope", FORM_CT, "%%%", &c, &reply), &reply, 403, NULL);
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT, body, &c, &reply), &reply);
}

static void test_cti_json_body(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *body =
        "{\"event\": \"hangup\", \"cause\": \"noAnswer\", \"callId\": \"pbx-json-1\","
        " \"from\": \"013800138000\", \"to\": \"8001\", \"direction\": \"in\","
        " \"user\": [\"alice\", \"bob\"], \"queue\": \"support\","
        " \"answeringNumber\": null, \"callerName\": \"Li Na\","
        " \"timestamp\": \"2026-11-21T18:00:00+08:00\"}";
    assert_parsed(route_cti_post(arena, CTI_TOKEN, JSON_CT, body, &c, &reply), &reply);
    assert_str(phone_call_of(&c)->kind, "missed");
    assert_str(phone_call_of(&c)->cause, "noAnswer");
    assert_str(phone_call_of(&c)->call_id, "pbx-json-1");
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(c.sender.name, "Li Na");
    assert_int_equal(phone_call_of(&c)->at, T_2026_11_21);
    assert_str(c.idempotency_key, "phone:cti:pbx-json-1:hangup");

    /* A numeric call id is its decimal text. */
    assert_parsed(
        route_cti_post(arena, CTI_TOKEN, JSON_CT,
                       "{\"event\": \"newCall\", \"callId\": 4711, \"from\": \"+8613800138000\"}",
                       &c, &reply),
        &reply);
    assert_str(phone_call_of(&c)->call_id, "4711");
    /* Nested objects mean nothing to a call event. */
    assert_rejected(
        route_cti_post(arena, CTI_TOKEN, JSON_CT,
                       "{\"event\": \"newCall\", \"callId\": \"p\", \"from\": {\"n\": 1}}", &c,
                       &reply),
        &reply, 400, NULL);
    assert_rejected(route_cti_post(arena, CTI_TOKEN, JSON_CT, "[\"newCall\"]", &c, &reply), &reply,
                    400, NULL);
    assert_rejected(route_cti_post(arena, CTI_TOKEN, JSON_CT, "{\"event\": ", &c, &reply), &reply,
                    400, NULL);
}

static void test_cti_repeated_user(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                 "event=answer&callId=pbx-u&from=013800138000&user%5B%5D=alice"
                                 "&user%5B%5D=bob&user[]=carol&queue=support&answeringNumber=8001",
                                 &c, &reply),
                  &reply);
    assert_str(phone_call_of(&c)->kind, "answered");
    assert_str(c.sender.phone, "+8613800138000");
}

static void test_cti_numbers(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    /* National with the trunk zero, default country 86. */
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                 "event=newCall&callId=n1&from=013800138000&to=8001", &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(phone_call_of(&c)->from, "+8613800138000");
    assert_null(phone_call_of(&c)->to); /* an extension is not a number; ours, so no error */
    /* Landline written with spaces. */
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                 "event=newCall&callId=n2&from=010+8888+6666", &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+861088886666");
    /* An unescaped '+' arrives as a leading space; the number stays international. */
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                 "event=newCall&callId=n3&from=+8613800138000", &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+8613800138000");
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                 "event=newCall&callId=n4&from=+44+20+7946+0958", &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+442079460958");
    /* Not a number. */
    assert_rejected(
        route_cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=n5&from=12ab", &c, &reply),
        &reply, 422, "from");
    /* Outbound: the customer is "to". */
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                 "event=newCall&callId=n6&direction=out&from=8001&to=013800138000",
                                 &c, &reply),
                  &reply);
    assert_str(phone_call_of(&c)->direction, "out");
    assert_str(c.sender.phone, "+8613800138000");
    assert_rejected(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                   "event=newCall&callId=n7&direction=out&from=8001&to=12ab", &c,
                                   &reply),
                    &reply, 422, "to");
    /* Withheld. */
    assert_parsed(route_cti_post(arena, CTI_TOKEN, FORM_CT,
                                 "event=newCall&callId=n8&from=anonymous", &c, &reply),
                  &reply);
    assert_null(c.sender.phone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROUTE_TEST(test_cti_events),        ROUTE_TEST(test_cti_rejections),
        ROUTE_TEST(test_cti_token),         ROUTE_TEST(test_cti_json_body),
        ROUTE_TEST(test_cti_repeated_user), ROUTE_TEST(test_cti_numbers),
    };
    return cmocka_run_group_tests_name("phone CTI route", tests, route_group_setup,
                                       route_group_teardown);
}
