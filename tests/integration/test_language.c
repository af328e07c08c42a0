/*
 * The customer's language, on every channel: what they write decides
 * (Chinese text: Chinese; words in Latin letters: English), then their
 * stored preference, then what the page, browser or caller said. A customer
 * who writes Chinese from a browser set to English gets a Chinese
 * acknowledgement and is stored as a Chinese speaker; their preference
 * follows what they write; a phone call's own English summary changes
 * nothing.
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

#include "harness.h"
#include "phone_webhooks.h"
#include "ws_client.h"

#define ORIGIN      "http://shop.example"
#define HOOK_SECRET "language-hook-secret"
#define WAIT_MS     5000

static struct harness_env env;

static int setup(void **state)
{
    (void)state;
    return harness_env_setup(&env, "language",
                             "{\"channels\":{\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]},"
                             "\"phone\":{\"default_country_code\":\"86\","
                             "\"webhook_secret\":\"" HOOK_SECRET "\"}}}");
}

static int teardown(void **state)
{
    (void)state;
    return harness_env_teardown(&env);
}

static char *customer_language(const char *email)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(c.language, '-') FROM customers c JOIN customer_identities i "
             "ON i.customer_id = c.id WHERE i.value = '%s'",
             email);
    return harness_pg_text(env.pg, sql);
}

static void test_chinese_written_from_an_english_browser_is_answered_in_chinese(void **state)
{
    (void)state;
    struct ws_client *c = ws_connect(env.gw.port, "/v1/chat", "intake-chat.v1", ORIGIN);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"en-US\",\"profile\":{\"email\":"
                           "\"wang@example.cn\"}}"));
    free(ws_recv_type(c, "welcome", WAIT_MS));
    assert_true(ws_send(c, "{\"type\":\"message\",\"client_id\":\"l1\",\"text\":"
                           "\"你好，我的订单还没有发货\"}"));
    free(ws_recv_type(c, "ack", WAIT_MS));
    char *notice = ws_recv_type(c, "notice", WAIT_MS);
    assert_non_null(notice);
    assert_non_null(strstr(notice, "工单号"));
    free(notice);
    ws_free(c);
    char *lang = customer_language("wang@example.cn");
    assert_string_equal(lang, "zh");
    free(lang);
}

static void test_the_written_language_beats_what_the_caller_said(void **state)
{
    (void)state;
    struct harness_response r;
    harness_post_contact(&env.gw,
                         "{\"external_id\":\"lang-1\",\"language\":\"en\",\"customer\":{\"email\":"
                         "\"li@example.cn\"},\"body\":\"打印机无法打印\"}",
                         &r);
    assert_int_equal(r.status, 201);
    char *lang = harness_json_str(r.body, "language");
    assert_string_equal(lang, "zh");
    free(lang);
    harness_response_free(&r);
    /* The same person writes in English now: the preference follows. */
    harness_post_contact(&env.gw,
                         "{\"external_id\":\"lang-2\",\"customer\":{\"email\":\"li@example.cn\"},"
                         "\"body\":\"The printer works again, thank you\"}",
                         &r);
    assert_int_equal(r.status, 201);
    lang = harness_json_str(r.body, "language");
    assert_string_equal(lang, "en");
    free(lang);
    harness_response_free(&r);
    lang = customer_language("li@example.cn");
    assert_string_equal(lang, "en");
    free(lang);
    /* Nothing written in letters (digits only): the stored preference stands. */
    harness_post_contact(&env.gw,
                         "{\"external_id\":\"lang-3\",\"language\":\"zh\",\"customer\":{\"email\":"
                         "\"li@example.cn\"},\"body\":\"12345 ?\"}",
                         &r);
    lang = harness_json_str(r.body, "language");
    assert_string_equal(lang, "en");
    free(lang);
    harness_response_free(&r);
}

static void test_a_calls_own_summary_changes_nothing(void **state)
{
    (void)state;
    /* A Chinese speaker, known by their number; then a missed call, summarized in English. */
    free(harness_post_new_contact(&env.gw, "{\"external_id\":\"lang-4\",\"customer\":{\"phone\":"
                                           "\"+8613855556666\"},\"body\":\"请回电话\"}"));
    char json[512];
    snprintf(json, sizeof(json),
             "{\"event_id\":\"lang-call-1\",\"call_id\":\"lang-call\",\"type\":\"missed\","
             "\"from\":\"+8613855556666\",\"to\":\"+861012345678\"}");
    assert_int_equal(webhook_native(&env.gw, HOOK_SECRET, (long)time(NULL), json, NULL), 200);
    harness_pg_text_is(env.pg,
                       "SELECT t.language FROM calls k JOIN tickets t ON t.id = k.ticket_id "
                       "WHERE k.call_id = 'lang-call'",
                       "zh");
    harness_pg_text_is(env.pg,
                       "SELECT c.language FROM customers c JOIN customer_identities i "
                       "ON i.customer_id = c.id WHERE i.value = '+8613855556666'",
                       "zh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chinese_written_from_an_english_browser_is_answered_in_chinese),
        cmocka_unit_test(test_the_written_language_beats_what_the_caller_said),
        cmocka_unit_test(test_a_calls_own_summary_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
