/*
 * The phone channel end to end, what is checked before anything is stored:
 * Twilio's signature (over an escaped callback query, over bodySHA256 for
 * JSON), ours and the CTI token, forged or missing, counted towards the
 * per-address cap; malformed and oversized input; no database. Every
 * refusal has its precise status and stores nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "phone_env.h"
#include "phone_webhooks.h"
#include "signers.h"

/*
 * A callback URL configured at Twilio with an escaped query: Twilio signs the
 * URL as written, the server hands the query over decoded, and the gateway
 * still recognizes the signature (it was refused with 403 before).
 */
static void test_twilio_callback_url_with_an_escaped_query_verifies(void **state)
{
    struct phone_env *f = *state;
    const char *ringing[] = {"CallSid=CA900",     "From=+8613800139000", "To=+862150001000",
                             "Direction=inbound", "CallStatus=ringing",  NULL};
    assert_int_equal(
        webhook_twilio(&f->gw, PUBLIC_URL, TWILIO_TOKEN, "site=a%2Fb%20c&tenant=7", ringing, NULL),
        200);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA900'"),
                     1);
    /* The same query under another secret is still refused. */
    const char *again[] = {"CallSid=CA901",     "From=+8613800139000", "To=+862150001000",
                           "Direction=inbound", "CallStatus=ringing",  NULL};
    assert_int_equal(webhook_twilio(&f->gw, PUBLIC_URL, "not-the-token-0123456789abcdef",
                                    "site=a%2Fb%20c&tenant=7", again, NULL),
                     403);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA901'"),
                     0);
}

static void test_forged_or_missing_signatures_get_403_and_store_nothing(void **state)
{
    struct phone_env *f = *state;
    long before = phone_env_stored_rows(f->pg);
    const char *ev[] = {"CallSid=CA800", "CallStatus=busy", "From=+8613888880008", NULL};
    assert_int_equal(webhook_twilio(&f->gw, PUBLIC_URL, "not-the-token", NULL, ev, NULL), 403);
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
    assert_int_equal(webhook_native(&f->gw, "wrong", (long)time(NULL), json, NULL), 403);
    char *body = NULL;
    assert_int_equal(webhook_native(&f->gw, HOOK_SECRET, (long)time(NULL) - 301, json, &body), 403);
    assert_non_null(strstr(body, "5-minute window"));
    free(body);
    snprintf(url, sizeof(url), "%s/v1/phone/events", f->gw.base);
    harness_http("POST", url, NULL, "application/json", json, strlen(json), &r);
    assert_int_equal(r.status, 403);
    harness_response_free(&r);
    assert_int_equal(
        webhook_cti(&f->gw, "guess", "event=hangup&cause=busy&callId=x&from=%2B8613888880008"),
        403);
    assert_int_equal(phone_env_stored_rows(f->pg), before);
}

static void test_forged_signatures_count_towards_the_auth_failure_cap(void **state)
{
    struct phone_env *f = *state;
    /* A gateway of its own that allows 3 failures a minute per address. */
    char config[1400];
    const char *base = phone_env_config("http://127.0.0.1:9/");
    snprintf(config, sizeof(config), "%.*s,\"limits\":{\"auth_failures_per_minute\":3}}",
             (int)strlen(base) - 1, base);
    struct harness_gateway capped;
    harness_gateway_start_config(&capped, f->db.url, config, NULL);
    const char *ev[] = {"CallSid=CA850", "CallStatus=busy", "From=+8613885850085", NULL};
    for (int i = 0; i < 3; i++)
        assert_int_equal(webhook_twilio(&capped, PUBLIC_URL, "guessed-token", NULL, ev, NULL), 403);
    /* Guessing further is refused before the signature is even checked... */
    assert_int_equal(webhook_twilio(&capped, PUBLIC_URL, "guessed-token", NULL, ev, NULL), 429);
    /* ...and so is the right signature from that address, for the rest of the minute. */
    assert_int_equal(webhook_twilio(&capped, PUBLIC_URL, TWILIO_TOKEN, NULL, ev, NULL), 429);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA850'"),
                     0);
    assert_int_equal(harness_gateway_stop(&capped), 0);
}

static void test_bad_input_gets_a_precise_4xx(void **state)
{
    struct phone_env *f = *state;
    long before = phone_env_stored_rows(f->pg);
    char *body = NULL;
    assert_int_equal(phone_env_native(f, "{\"event_id\":\"b1\",\"call_id\":\"n\",", &body), 400);
    assert_non_null(strstr(body, "malformed JSON"));
    free(body);
    assert_int_equal(
        phone_env_native(f,
                         "{\"event_id\":\"b2\",\"call_id\":\"n-900\",\"type\":\"hold\","
                         "\"from\":\"+8613899990009\"}",
                         &body),
        422);
    assert_non_null(strstr(body, "\"field\":\"type\""));
    free(body);
    assert_int_equal(
        phone_env_native(f,
                         "{\"event_id\":\"b3\",\"call_id\":\"n-900\",\"type\":\"missed\","
                         "\"from\":\"call me maybe\"}",
                         &body),
        422);
    assert_non_null(strstr(body, "\"field\":\"from\""));
    free(body);
    assert_int_equal(phone_env_cti(f, "event=transfer&callId=n-901"), 422);
    assert_int_equal(phone_env_cti(f, "event=newCall&callId=n-902&from=%ZZ"), 400);
    const char *unknown_status[] = {"CallSid=CA900", "CallStatus=exploded", "From=+8613899990009",
                                    NULL};
    assert_int_equal(phone_env_twilio(f, unknown_status), 422);

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
    assert_int_equal(phone_env_stored_rows(f->pg), before);
}

/* Twilio's JSON webhooks: the URL carries bodySHA256 and the signature covers the URL only. */
static void test_twilio_json_body_is_checked_through_body_sha256(void **state)
{
    struct phone_env *f = *state;
    const char *json =
        "{\"CallSid\":\"CA990\",\"CallStatus\":\"busy\",\"From\":\"+8613899000990\"}";
    char hex[65], signed_url[256], sig[SIGNER_TWILIO_LEN], header[64], url[256];
    signer_sha256_hex(json, strlen(json), hex);
    snprintf(signed_url, sizeof(signed_url), PUBLIC_URL "/v1/phone/twilio?bodySHA256=%s", hex);
    signer_twilio(TWILIO_TOKEN, signed_url, NULL, 0, sig);
    snprintf(header, sizeof(header), "X-Twilio-Signature: %s", sig);
    snprintf(url, sizeof(url), "%s/v1/phone/twilio?bodySHA256=%s", f->gw.base, hex);
    const char *headers[] = {header, "Content-Type: application/json", NULL};
    struct harness_response r;
    harness_http_headers("POST", url, headers, json, strlen(json), &r);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    harness_pg_text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'CA990'", "missed");
    /* The same signature over a different body is refused. */
    const char *other =
        "{\"CallSid\":\"CA991\",\"CallStatus\":\"busy\",\"From\":\"+8613899000990\"}";
    harness_http_headers("POST", url, headers, other, strlen(other), &r);
    assert_int_equal(r.status, 403);
    harness_response_free(&r);
    assert_int_equal(harness_pg_longf(f->pg, "SELECT count(*) FROM calls WHERE call_id = 'CA991'"),
                     0);
}

static void test_database_down_is_503_with_retry_after(void **state)
{
    (void)state;
    struct harness_gateway gw;
    char dead[160];
    harness_unreachable_db_url(dead, sizeof(dead));
    harness_gateway_start_config(&gw, dead, phone_env_config("http://127.0.0.1:9/none"), NULL);
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
        cmocka_unit_test(test_twilio_callback_url_with_an_escaped_query_verifies),
        cmocka_unit_test(test_forged_or_missing_signatures_get_403_and_store_nothing),
        cmocka_unit_test(test_forged_signatures_count_towards_the_auth_failure_cap),
        cmocka_unit_test(test_bad_input_gets_a_precise_4xx),
        cmocka_unit_test(test_twilio_json_body_is_checked_through_body_sha256),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_database_down_is_503_with_retry_after),
    };
    int failed =
        cmocka_run_group_tests_name("phone refusals", shared, phone_env_setup, phone_env_teardown);
    return failed + cmocka_run_group_tests_name("phone refusals, own gateways", own, NULL, NULL);
}
