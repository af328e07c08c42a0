/*
 * Ticket and customer numbers past six digits (db/0019): the numbering
 * function at its boundaries, contacts on every channel across the
 * millionth ticket and customer, a mail reply threading by a seven-digit
 * tag, the desk finding it; and a number that is already taken (a sequence
 * set back by hand) answered 503 without retries, logged once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "phone_webhooks.h"
#include "ws_client.h"

#define CTI_TOKEN "cti-numbers-token-77"
#define ORIGIN    "http://shop.example"
#define WAIT_MS   5000

static void test_numbers_keep_six_digits_as_a_minimum(void **state)
{
    struct harness_env *env = *state;
    harness_pg_text_is(env->pg, "SELECT intake_number('SR-', 123)", "SR-000123");
    harness_pg_text_is(env->pg, "SELECT intake_number('SR-', 999999)", "SR-999999");
    harness_pg_text_is(env->pg, "SELECT intake_number('SR-', 1000000)", "SR-1000000");
    harness_pg_text_is(env->pg, "SELECT intake_number('C-', 10000000)", "C-10000000");
    harness_pg_text_is(env->pg, "SELECT intake_number('', 9223372036854775807)",
                       "9223372036854775807");
}

static char *post_email(const struct harness_env *env, const char *raw, long expect)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", env->gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", raw, strlen(raw), &r);
    if (r.status != expect)
        fail_msg("email: expected %ld, got %ld: %s", expect, r.status, r.body);
    return r.body;
}

/* A chat session's first message; returns the ticket its ack names (malloc'd). */
static char *chat_first_message(const struct harness_env *env)
{
    struct ws_client *c = ws_connect(env->gw.port, "/v1/chat", "intake-chat.v1", ORIGIN);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"en\","
                           "\"profile\":{\"name\":\"Mei\",\"email\":\"mei@chat.example\"}}"));
    char *welcome = ws_recv_type(c, "welcome", WAIT_MS);
    assert_non_null(welcome);
    assert_true(ws_send(c, "{\"type\":\"message\",\"client_id\":\"n1\",\"text\":\"Where is my "
                           "order?\"}"));
    char *ack = ws_recv_type(c, "ack", WAIT_MS);
    assert_non_null(ack);
    char *ticket = harness_json_str(ack, "ticket");
    assert_non_null(ticket);
    free(welcome);
    free(ack);
    ws_free(c);
    return ticket;
}

static void test_contacts_on_every_channel_cross_the_millionth_number(void **state)
{
    struct harness_env *env = *state;
    harness_pg_exec(env->pg, "SELECT setval('ticket_number_seq', 999998), "
                             "setval('customer_number_seq', 999998)");

    /* API: the last six-digit numbers. */
    struct harness_response r;
    harness_post_contact(&env->gw,
                         "{\"external_id\":\"num-api-1\",\"customer\":{\"email\":"
                         "\"ana@numbers.example\"},\"body\":\"My invoice is wrong\"}",
                         &r);
    assert_int_equal(r.status, 201);
    char *t1 = harness_json_str(r.body, "ticket"), *c1 = harness_json_str(r.body, "customer");
    assert_string_equal(t1, "SR-999999");
    assert_string_equal(c1, "C-999999");
    harness_response_free(&r);

    /* Email: the first seven-digit ones. */
    char *body = post_email(env,
                            "From: Bo <bo@numbers.example>\r\nTo: help@desk.example\r\n"
                            "Subject: Router keeps rebooting\r\nMessage-ID: <num-mail-1@x>\r\n"
                            "\r\nIt reboots every hour.\r\n",
                            201);
    char *t2 = harness_json_str(body, "ticket"), *c2 = harness_json_str(body, "customer");
    assert_string_equal(t2, "SR-1000000");
    assert_string_equal(c2, "C-1000000");
    free(body);

    /* Phone: a missed call from a new number. */
    assert_int_equal(webhook_cti(&env->gw, CTI_TOKEN,
                                 "event=newCall&direction=in&callId=num-call-1&from="
                                 "%2B8613800000077&to=%2B861012345678"),
                     200);
    assert_int_equal(webhook_cti(&env->gw, CTI_TOKEN,
                                 "event=hangup&cause=cancel&direction=in&callId=num-call-1&"
                                 "from=%2B8613800000077&to=%2B861012345678"),
                     200);
    harness_pg_text_is(
        env->pg,
        "SELECT t.number || ' ' || c.number FROM calls k JOIN tickets t ON t.id = k.ticket_id "
        "JOIN customers c ON c.id = t.customer_id WHERE k.call_id = 'num-call-1'",
        "SR-1000001 C-1000001");

    /* Chat. */
    char *t4 = chat_first_message(env);
    assert_string_equal(t4, "SR-1000002");
    harness_pg_text_is(env->pg,
                       "SELECT c.number FROM tickets t JOIN customers c ON c.id = t.customer_id "
                       "WHERE t.number = 'SR-1000002'",
                       "C-1000002");

    /* Nothing was refused or made twice, and no number is a cut one. */
    assert_int_equal(harness_pg_long(env->pg, "SELECT count(DISTINCT number) FROM tickets "
                                              "WHERE number ~ '^SR-(999999|100000[0-2])$'"),
                     4);
    assert_int_equal(harness_pg_long(env->pg, "SELECT count(*) FROM tickets "
                                              "WHERE number = 'SR-100000'"),
                     0);

    /* A reply tagged with the seven-digit number threads to its ticket. */
    body = post_email(env,
                      "From: Bo <bo@numbers.example>\r\nTo: help@desk.example\r\n"
                      "Subject: Re: [SR-1000000] Router keeps rebooting\r\n"
                      "Message-ID: <num-mail-2@x>\r\n\r\nStill rebooting.\r\n",
                      201);
    char *t5 = harness_json_str(body, "ticket");
    assert_string_equal(t5, "SR-1000000");
    assert_false(harness_json_bool(body, "new_ticket"));
    free(body);

    /* The desk finds it, and lists the tickets on both sides of the boundary. */
    char url[160];
    snprintf(url, sizeof(url), "%s/v1/tickets/SR-1000000", env->gw.base);
    harness_http("GET", url, HARNESS_TOKEN, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"number\":\"SR-1000000\""));
    assert_non_null(strstr(r.body, "Still rebooting."));
    harness_response_free(&r);
    snprintf(url, sizeof(url), "%s/v1/tickets?limit=50", env->gw.base);
    harness_http("GET", url, HARNESS_TOKEN, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    const char *numbers[] = {"SR-999999", "SR-1000000", "SR-1000001", "SR-1000002"};
    for (size_t i = 0; i < 4; i++) {
        char quoted[32];
        snprintf(quoted, sizeof(quoted), "\"%s\"", numbers[i]);
        if (!strstr(r.body, quoted))
            fail_msg("%s missing from the list: %s", numbers[i], r.body);
    }
    harness_response_free(&r);
    free(t1);
    free(c1);
    free(t2);
    free(c2);
    free(t4);
    free(t5);
}

static void test_a_taken_number_is_no_race_and_is_logged_once(void **state)
{
    struct harness_env *env = *state;
    /*
     * A sequence set back by hand: its next four numbers are stored already
     * (SR-999999 to SR-1000002). A failed insert still uses its number up,
     * so each contact that is run once moves the sequence on by one.
     */
    harness_pg_exec(env->pg, "SELECT setval('ticket_number_seq', 999998)");
    long before = harness_pg_long(env->pg, "SELECT count(*) FROM tickets");
    for (int i = 0; i < 4; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"external_id\":\"num-taken-%d\",\"customer\":{\"email\":"
                 "\"taken%d@numbers.example\"},\"body\":\"Hello\"}",
                 i, i);
        struct harness_response r;
        harness_post_contact(&env->gw, json, &r);
        if (r.status != 503)
            fail_msg("contact %d: expected 503, got %ld: %s", i, r.status, r.body);
        assert_true(r.retry_after[0] != '\0');
        harness_response_free(&r);
    }
    assert_int_equal(harness_pg_long(env->pg, "SELECT count(*) FROM tickets"), before);
    /* Each contact ran once (a retry as a race would have used more numbers). */
    assert_int_equal(harness_pg_long(env->pg, "SELECT last_value FROM ticket_number_seq"), 1000002);
    assert_int_equal(harness_count_lines(env->gw.log_path, "sqlstate 23505"), 0);
    assert_int_equal(harness_count_lines(env->gw.log_path, "number is already taken"), 1);

    /* Past the stored numbers the same contact is taken, and the log says so once. */
    struct harness_response r;
    harness_post_contact(&env->gw,
                         "{\"external_id\":\"num-taken-0\",\"customer\":{\"email\":"
                         "\"taken0@numbers.example\"},\"body\":\"Hello\"}",
                         &r);
    assert_int_equal(r.status, 201);
    char *t = harness_json_str(r.body, "ticket");
    assert_string_equal(t, "SR-1000003");
    free(t);
    harness_response_free(&r);
    assert_int_equal(harness_count_lines(env->gw.log_path, "new tickets get numbers again"), 1);
}

static int setup(void **state)
{
    static struct harness_env env;
    *state = &env;
    return harness_env_setup(&env, "numbers",
                             "{\"channels\":{\"phone\":{\"default_country_code\":\"86\","
                             "\"cti_token\":\"" CTI_TOKEN "\"},"
                             "\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]}}}");
}

static int teardown(void **state)
{
    return harness_env_teardown(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_keep_six_digits_as_a_minimum),
        cmocka_unit_test(test_contacts_on_every_channel_cross_the_millionth_number),
        cmocka_unit_test(test_a_taken_number_is_no_race_and_is_logged_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
