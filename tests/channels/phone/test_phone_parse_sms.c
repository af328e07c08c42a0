/*
 * The phone channel's acknowledgement, a text message, no server: the POST
 * phone_render_sms builds for a Twilio-compatible provider, in the
 * customer's language, and why none is sent when it cannot be.
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

#include <jansson.h>

#include "phone_routes.h"
#include "phone.h"

static json_t *sms_ack(const char *language, int first_response_s, const char *reply_handle)
{
    json_t *ack = json_pack("{s:s, s:s, s:s, s:i}", "ticket", "SR-000123", "customer", "C-000045",
                            "language", language, "first_response_s", first_response_s);
    assert_non_null(ack);
    if (reply_handle)
        json_object_set_new(ack, "reply_handle", json_string(reply_handle));
    return ack;
}

static void set_sms_env(void)
{
    setenv("INTAKE_SMS_URL", "https://sms.example.com/2010-04-01/Accounts/AC1/Messages.json", 1);
    setenv("INTAKE_SMS_FROM", "+861088886666", 1);
    setenv("INTAKE_SMS_ACCOUNT", "AC1", 1);
    setenv("INTAKE_SMS_TOKEN", "sms-token-9", 1);
}

/* The rendered POST's form fields, after checking the envelope. */
static void rendered_sms(struct gw_arena *arena, const json_t *ack, struct gw_form *f)
{
    struct gw_delivery d;
    memset(&d, 0x5A, sizeof(d));
    assert_int_equal(phone_render_sms(ack, route_cfg, arena, &d), GW_OK);
    assert_int_equal(d.kind, GW_DELIVER_HTTP_POST);
    assert_str(d.url, "https://sms.example.com/2010-04-01/Accounts/AC1/Messages.json");
    assert_str(d.content_type, FORM_CT);
    assert_str(d.basic_auth, "AC1:sms-token-9");
    assert_non_null(d.body);
    assert_int_equal(d.body_len, strlen(d.body));
    assert_true(d.per_recipient_per_hour > 0);
    /* '+' must be escaped, or the provider reads a space. */
    assert_contains(d.body, "To=%2B8613800138000");
    assert_true(gw_form_parse(arena, d.body, d.body_len, f));
    assert_int_equal(f->n, 3);
    assert_str(f->fields[0].name, "To");
    assert_str(f->fields[1].name, "From");
    assert_str(f->fields[2].name, "Body");
    assert_str(gw_form_get(f, "To"), "+8613800138000");
    assert_str(gw_form_get(f, "From"), "+861088886666");
}

static void test_sms_chinese(void **state)
{
    struct gw_arena *arena = *state;
    set_sms_env();
    json_t *ack = sms_ack("zh", 900, "+8613800138000");
    struct gw_form f;
    rendered_sms(arena, ack, &f);
    const char *text = gw_form_get(&f, "Body");
    assert_contains(text, "SR-000123");
    assert_contains(text, "工单号");
    assert_contains(text, "15 分钟");
    assert_null(strstr(text, "ticket"));
    json_decref(ack);

    /* Minutes round up. */
    ack = sms_ack("zh", 1801, "+8613800138000");
    rendered_sms(arena, ack, &f);
    assert_contains(gw_form_get(&f, "Body"), "31 分钟");
    json_decref(ack);
}

static void test_sms_english(void **state)
{
    struct gw_arena *arena = *state;
    set_sms_env();
    json_t *ack = sms_ack("en", 1800, "+8613800138000");
    struct gw_form f;
    rendered_sms(arena, ack, &f);
    const char *text = gw_form_get(&f, "Body");
    assert_contains(text, "SR-000123");
    assert_contains(text, "30 minutes");
    assert_null(strstr(text, "工单号"));
    json_decref(ack);
}

static void test_sms_not_sent(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_delivery d;
    /* No provider configured (INTAKE_SMS_URL unset, the rest set). */
    set_sms_env();
    unsetenv("INTAKE_SMS_URL");
    json_t *ack = sms_ack("en", 1800, "+8613800138000");
    memset(&d, 0x5A, sizeof(d));
    assert_int_equal(phone_render_sms(ack, route_cfg, arena, &d), GW_OK);
    assert_int_equal(d.kind, GW_DELIVER_NONE);
    assert_contains(d.why_none, "INTAKE_SMS_URL");
    json_decref(ack);
    /* No number to text. */
    set_sms_env();
    ack = sms_ack("en", 1800, NULL);
    memset(&d, 0x5A, sizeof(d));
    assert_int_equal(phone_render_sms(ack, route_cfg, arena, &d), GW_OK);
    assert_int_equal(d.kind, GW_DELIVER_NONE);
    assert_non_null(d.why_none);
    assert_true(strlen(d.why_none) > 0);
    json_decref(ack);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROUTE_TEST(test_sms_chinese),
        ROUTE_TEST(test_sms_english),
        ROUTE_TEST(test_sms_not_sent),
    };
    return cmocka_run_group_tests_name("phone SMS", tests, route_group_setup, route_group_teardown);
}
