/*
 * The phone channel's settings, no server: the problems phone_check_config
 * reports (and the loader refuses to start with), what a good section
 * looks like, the settings as read with the environment first, and the
 * channel's table of routes and hooks.
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
#include <stdbool.h>

#include <jansson.h>

#include "phone_routes.h"
#include "phone.h"

extern const struct gw_channel gw_channel_phone;

/* The problems phone_check_config finds in a section written as JSON text. */
static struct gw_problems check(const char *section_json)
{
    struct gw_problems pr = {0};
    json_error_t jerr;
    json_t *sec = json_loads(section_json, 0, &jerr);
    if (!sec)
        fail_msg("bad test JSON %s: %s", section_json, jerr.text);
    phone_check_config(sec, &pr);
    json_decref(sec);
    return pr;
}

static void expect_one_problem(const char *section_json, const char *mention)
{
    struct gw_problems pr = check(section_json);
    bool ok = pr.n == 1 && strstr(pr.items[0], mention) != NULL;
    if (!ok) {
        print_error("section %s: want one problem mentioning \"%s\", got %zu:\n", section_json,
                    mention, pr.n);
        for (size_t i = 0; i < pr.n; i++)
            print_error("  %s\n", pr.items[i]);
    }
    gw_problems_clear(&pr);
    assert_true(ok);
}

static void test_check_config_problems(void **state)
{
    (void)state;
    expect_one_problem("{\"colour\": \"red\"}", "channels.phone.colour: unknown setting");
    expect_one_problem("{\"default_country_code\": \"086\"}", "default_country_code");
    expect_one_problem("{\"default_country_code\": \"1234\"}", "default_country_code");
    expect_one_problem("{\"default_country_code\": \"8a\"}", "default_country_code");
    expect_one_problem("{\"default_country_code\": \"\"}", "default_country_code");
    expect_one_problem("{\"default_country_code\": 86}", "default_country_code");
    expect_one_problem("{\"callback_within_minutes\": 0}", "callback_within_minutes");
    expect_one_problem("{\"callback_within_minutes\": 1441}", "callback_within_minutes");
    expect_one_problem("{\"callback_within_minutes\": \"30\"}", "callback_within_minutes");
    expect_one_problem("{\"stale_after_minutes\": 0}", "stale_after_minutes");
    expect_one_problem("{\"stale_after_minutes\": 10081}", "stale_after_minutes");
    expect_one_problem("{\"cti_token\": 5}", "cti_token");
    expect_one_problem("{\"sms\": {\"url\": \"ftp://sms.example.com/send\"}}", "sms.url");
    expect_one_problem("{\"sms\": {\"url\": \"not a url\"}}", "sms.url");
    expect_one_problem("{\"sms\": {\"sender\": \"+1\"}}", "channels.phone.sms.sender");
    expect_one_problem("{\"sms\": \"https://sms.example.com\"}", "channels.phone.sms");

    /* Several at once are all reported. */
    struct gw_problems pr = check("{\"colour\": 1, \"default_country_code\": \"0\","
                                  " \"callback_within_minutes\": -1, \"sms\": {\"url\": \"x\"}}");
    assert_int_equal(pr.n, 4);
    gw_problems_clear(&pr);

    /* And through the config loader, which refuses to start with them. */
    struct gw_problems lp = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load_text("{\"channels\": {\"phone\": {\"callback_within_minutes\":"
                                         " 100000}}}",
                                         &cfg, &lp),
                     GW_ERR_CONFIG);
    bool found = false;
    for (size_t i = 0; i < lp.n; i++)
        found |= strstr(lp.items[i], "callback_within_minutes") != NULL;
    gw_problems_clear(&lp);
    gw_config_free(cfg);
    assert_true(found);
}

static void test_check_config_good(void **state)
{
    (void)state;
    struct gw_problems pr =
        check("{\"default_country_code\": \"1\", \"twilio_auth_token\": \"t\","
              " \"cti_token\": \"c\", \"webhook_secret\": \"w\", \"callback_within_minutes\": 1440,"
              " \"stale_after_minutes\": 10080, \"sms\": {\"url\": \"https://sms.example.com/x\","
              " \"from\": \"+12125550123\", \"account\": \"AC1\", \"token\": \"tok\"}}");
    for (size_t i = 0; i < pr.n; i++)
        print_error("unexpected: %s\n", pr.items[i]);
    assert_int_equal(pr.n, 0);
    gw_problems_clear(&pr);
    pr = check("{\"default_country_code\": \"86\", \"callback_within_minutes\": 1,"
               " \"stale_after_minutes\": 1}");
    assert_int_equal(pr.n, 0);
    gw_problems_clear(&pr);
    pr = check("{}");
    assert_int_equal(pr.n, 0);
    gw_problems_clear(&pr);
    phone_check_config(NULL, &pr);
    assert_int_equal(pr.n, 0);
}

static void test_settings_read(void **state)
{
    (void)state;
    struct phone_settings s;
    phone_settings_read(route_cfg, &s);
    assert_str(s.country_code, "86");
    assert_int_equal(s.callback_within_s, 45 * 60);
    assert_null(s.twilio_auth_token);
    assert_null(s.sms_url);
    /* The environment is read each time, and an empty value is no value. */
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    setenv("INTAKE_CTI_TOKEN", "", 1);
    phone_settings_read(route_cfg, &s);
    assert_str(s.twilio_auth_token, TWILIO_TOKEN);
    assert_null(s.cti_token);
}

static void test_channel_table(void **state)
{
    (void)state;
    assert_str(gw_channel_phone.name, "phone");
    assert_int_equal(gw_channel_phone.n_routes, 3);
    const struct gw_route *r = gw_channel_phone.routes;
    assert_str(r[0].path, "/v1/phone/twilio");
    assert_true(r[0].parse == phone_twilio_parse);
    assert_str(r[1].path, "/v1/phone/cti/");
    assert_true(r[1].path_prefix);
    assert_true(r[1].parse == phone_cti_parse);
    assert_str(r[2].path, "/v1/phone/events");
    assert_true(r[2].parse == phone_native_parse);
    for (size_t i = 0; i < 3; i++) {
        assert_str(r[i].method, "POST");
        assert_int_equal(r[i].auth, GW_AUTH_NONE);
        assert_int_equal(r[i].max_body, 64 * 1024);
    }
    assert_true(gw_channel_phone.render_ack == phone_render_sms);
    assert_true(gw_channel_phone.check_config == phone_check_config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROUTE_TEST(test_check_config_problems),
        ROUTE_TEST(test_check_config_good),
        ROUTE_TEST(test_settings_read),
        ROUTE_TEST(test_channel_table),
    };
    return cmocka_run_group_tests_name("phone settings", tests, route_group_setup,
                                       route_group_teardown);
}
