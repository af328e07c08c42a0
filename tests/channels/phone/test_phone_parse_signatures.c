/*
 * The phone channel's signature checks, no server: Twilio's
 * X-Twilio-Signature and our X-Intake-Signature against vectors computed
 * with the openssl command line, not with the code under test
 * (tests/fixtures/phone/README.md has the commands): the channel's checks,
 * and first the test-side signers (tests/support/signers.c) that every
 * other phone test signs with, so a wrong signer cannot pass unnoticed.
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

#include "phone_routes.h"
#include "phone.h"
#include "signers.h"

static void test_own_signers_match_openssl(void **state)
{
    (void)state;
    /* The signer the route tests use must agree with the openssl vectors first. */
    const struct form_field doc[] = {{"To", "+18005551212"},
                                     {"CallSid", "CA1234567890ABCDE"},
                                     {"Digits", "1234"},
                                     {"From", "+12349013030"},
                                     {"Caller", "+12349013030"}};
    char sig[64];
    signer_twilio("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", doc, N(doc), sig);
    assert_str(sig, twilio_doc_sig);
    signer_twilio(TWILIO_TOKEN, TWILIO_URL, NULL, 0, sig);
    assert_str(sig, twilio_url_only_sig);

    char *body = route_fixture("native_missed.json");
    char header[128];
    signer_intake(WEBHOOK_SECRET, T_2026_11_21, body, strlen(body), header);
    char want[128];
    snprintf(want, sizeof(want), "t=%ld,v1=%s", T_2026_11_21, native_sig);
    assert_str(header, want);
    free(body);
}

static void test_twilio_signature_documented_vector(void **state)
{
    (void)state;
    /* Given out of order: the signature sorts by name. */
    struct gw_form_field fields[] = {{"To", "+18005551212"},
                                     {"Digits", "1234"},
                                     {"Caller", "+12349013030"},
                                     {"From", "+12349013030"},
                                     {"CallSid", "CA1234567890ABCDE"}};
    struct gw_form form = {fields, N(fields)};
    char out[64];
    memset(out, 'x', sizeof(out));
    assert_true(
        phone_twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &form, out));
    assert_str(out, twilio_doc_sig);

    assert_true(
        phone_twilio_signature("12346", "https://mycompany.com/myapp.php?foo=1&bar=2", &form, out));
    assert_true(strcmp(out, twilio_doc_sig) != 0);
    fields[1].value = "1235";
    assert_true(
        phone_twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &form, out));
    assert_true(strcmp(out, twilio_doc_sig) != 0);
    fields[1].value = "1234";
    assert_true(
        phone_twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", &form, out));
    assert_true(strcmp(out, twilio_doc_sig) != 0);
}

static void test_twilio_signature_fixture_vector(void **state)
{
    struct gw_arena *arena = *state;
    char *body = route_fixture("twilio_status_completed.form");
    struct gw_form form;
    assert_true(gw_form_parse(arena, body, strlen(body), &form));
    assert_int_equal(form.n, 11);
    char out[64];
    assert_true(phone_twilio_signature(TWILIO_TOKEN, TWILIO_URL, &form, out));
    assert_str(out, twilio_form_sig);

    /* No fields at all: the URL alone is signed; NULL and an empty form agree. */
    assert_true(phone_twilio_signature(TWILIO_TOKEN, TWILIO_URL, NULL, out));
    assert_str(out, twilio_url_only_sig);
    struct gw_form empty = {NULL, 0};
    assert_true(phone_twilio_signature(TWILIO_TOKEN, TWILIO_URL, &empty, out));
    assert_str(out, twilio_url_only_sig);

    /* The JSON variant: the URL carrying bodySHA256. */
    assert_true(phone_twilio_signature(
        TWILIO_TOKEN, gw_arena_printf(arena, "%s?bodySHA256=%s", TWILIO_URL, twilio_json_sha256),
        NULL, out));
    assert_str(out, twilio_json_sig);
    free(body);
}

static void test_sha256_hex_vectors(void **state)
{
    (void)state;
    char *body = route_fixture("twilio_status_no_answer.json");
    char out[65];
    phone_sha256_hex((const unsigned char *)body, strlen(body), out);
    assert_str(out, twilio_json_sha256);
    phone_sha256_hex((const unsigned char *)"", 0, out);
    assert_str(out, empty_sha256);
    free(body);
}

/* phone_native_signature_ok on native_missed.json; *why is set on refusal. */
static bool native_ok(const char *header, const char *secret, const char *body, long now,
                      const char **why)
{
    *why = NULL;
    bool ok = phone_native_signature_ok(header, secret, (const unsigned char *)body, strlen(body),
                                        now, why);
    if (ok)
        assert_null(*why);
    else
        assert_non_null(*why);
    return ok;
}

static void test_native_signature_vectors(void **state)
{
    struct gw_arena *arena = *state;
    char *body = route_fixture("native_missed.json");
    const char *good = gw_arena_printf(arena, "t=%ld,v1=%s", T_2026_11_21, native_sig);
    const char *why;

    assert_true(native_ok(good, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    /* Wrong secret. */
    assert_false(native_ok(good, OLD_SECRET, body, T_2026_11_21, &why));
    assert_contains(why, "does not match");
    /* The old secret's vector verifies with the old secret only. */
    const char *old = gw_arena_printf(arena, "t=%ld,v1=%s", T_2026_11_21, native_old_sig);
    assert_true(native_ok(old, OLD_SECRET, body, T_2026_11_21, &why));
    assert_false(native_ok(old, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    /* Tampered body: one byte. */
    char *tampered = gw_arena_strdup(arena, body);
    *strstr(tampered, "missed") = 'k';
    assert_false(native_ok(good, WEBHOOK_SECRET, tampered, T_2026_11_21, &why));
    assert_contains(why, "does not match");
    /* A different t with the same mac: t is signed too. */
    const char *other_t = gw_arena_printf(arena, "t=%ld,v1=%s", T_2026_11_21 + 1, native_sig);
    assert_false(native_ok(other_t, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    /* Upper-case hex of the right mac is not what we send. */
    char *upper = gw_arena_strdup(arena, good);
    for (char *p = strstr(upper, "v1=") + 3; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_false(native_ok(upper, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    /* No secret configured. */
    assert_false(native_ok(good, NULL, body, T_2026_11_21, &why));
    assert_contains(why, "INTAKE_WEBHOOK_SECRET");
    free(body);
}

static void test_native_signature_missing_and_malformed(void **state)
{
    struct gw_arena *arena = *state;
    char *body = route_fixture("native_missed.json");
    const char *why;
    assert_false(native_ok(NULL, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    assert_contains(why, "missing");
    assert_false(native_ok("", WEBHOOK_SECRET, body, T_2026_11_21, &why));
    assert_contains(why, "missing");

    const char *const malformed[] = {
        gw_arena_printf(arena, "v1=%s", native_sig),                        /* no t */
        gw_arena_printf(arena, "t=%ld", T_2026_11_21),                      /* no v1 */
        gw_arena_printf(arena, "t=abc,v1=%s", native_sig),                  /* t not a number */
        gw_arena_printf(arena, "t=%ldx,v1=%s", T_2026_11_21, native_sig),   /* junk after t */
        gw_arena_printf(arena, "t=-5,v1=%s", native_sig),                   /* negative t */
        gw_arena_printf(arena, "t=%ld;v1=%s", T_2026_11_21, native_sig),    /* wrong separator */
        gw_arena_printf(arena, "t=%ld,v1=%.63s", T_2026_11_21, native_sig), /* short mac */
        gw_arena_printf(arena, "t=%ld,v1=%s0", T_2026_11_21, native_sig),   /* long mac */
        gw_arena_printf(arena, "t=%ld,v0=%s", T_2026_11_21, native_sig),    /* unknown scheme */
        "garbage",
        ",,,",
    };
    for (size_t i = 0; i < N(malformed); i++) {
        if (native_ok(malformed[i], WEBHOOK_SECRET, body, T_2026_11_21, &why))
            fail_msg("accepted malformed header: %s", malformed[i]);
        assert_contains(why, "t=<unix seconds>");
    }
    /* A space after the comma is tolerated. */
    assert_true(native_ok(gw_arena_printf(arena, "t=%ld, v1=%s", T_2026_11_21, native_sig),
                          WEBHOOK_SECRET, body, T_2026_11_21, &why));
    free(body);
}

static void test_native_signature_window(void **state)
{
    struct gw_arena *arena = *state;
    char *body = route_fixture("native_missed.json");
    const char *good = gw_arena_printf(arena, "t=%ld,v1=%s", T_2026_11_21, native_sig);
    const char *why;
    /* t is 301 s old, then 301 s in the future: refused. */
    assert_false(native_ok(good, WEBHOOK_SECRET, body, T_2026_11_21 + 301, &why));
    assert_contains(why, "window");
    assert_false(native_ok(good, WEBHOOK_SECRET, body, T_2026_11_21 - 301, &why));
    assert_contains(why, "window");
    /* Within five minutes either way: accepted. */
    assert_true(native_ok(good, WEBHOOK_SECRET, body, T_2026_11_21 + 300, &why));
    assert_true(native_ok(good, WEBHOOK_SECRET, body, T_2026_11_21 - 300, &why));
    assert_true(native_ok(good, WEBHOOK_SECRET, body, T_2026_11_21 + 120, &why));
    /* The window applies whatever the mac: an old signature is not checked further. */
    assert_false(native_ok(good, WEBHOOK_SECRET, body, T_2026_11_21 + 86400, &why));
    free(body);
}

static void test_native_signature_rotation(void **state)
{
    struct gw_arena *arena = *state;
    char *body = route_fixture("native_missed.json");
    const char *why;
    /* Two v1 values (old secret first); the second matches the current secret. */
    const char *both =
        gw_arena_printf(arena, "t=%ld,v1=%s,v1=%s", T_2026_11_21, native_old_sig, native_sig);
    assert_true(native_ok(both, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    assert_true(native_ok(both, OLD_SECRET, body, T_2026_11_21, &why));
    /* Order does not matter; v1 before t neither. */
    const char *reordered =
        gw_arena_printf(arena, "v1=%s,v1=%s,t=%ld", native_sig, native_old_sig, T_2026_11_21);
    assert_true(native_ok(reordered, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    /* Neither matching: refused. */
    const char *neither =
        gw_arena_printf(arena, "t=%ld,v1=%s,v1=%s", T_2026_11_21, native_old_sig, native_old_sig);
    assert_false(native_ok(neither, WEBHOOK_SECRET, body, T_2026_11_21, &why));
    free(body);
}

static void test_secret_equal(void **state)
{
    (void)state;
    assert_true(phone_secret_equal("s3cret-token", "s3cret-token"));
    assert_false(phone_secret_equal("s3cret-tokem", "s3cret-token"));
    assert_false(phone_secret_equal("S3cret-token", "s3cret-token"));
    assert_false(phone_secret_equal("s3cret-tok", "s3cret-token"));    /* a prefix */
    assert_false(phone_secret_equal("s3cret-token!", "s3cret-token")); /* longer */
    assert_false(phone_secret_equal("", "s3cret-token"));
    assert_false(phone_secret_equal(NULL, "s3cret-token"));
    assert_false(phone_secret_equal("s3cret-token", NULL));
    assert_false(phone_secret_equal(NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROUTE_TEST(test_own_signers_match_openssl),
        ROUTE_TEST(test_twilio_signature_documented_vector),
        ROUTE_TEST(test_twilio_signature_fixture_vector),
        ROUTE_TEST(test_sha256_hex_vectors),
        ROUTE_TEST(test_native_signature_vectors),
        ROUTE_TEST(test_native_signature_missing_and_malformed),
        ROUTE_TEST(test_native_signature_window),
        ROUTE_TEST(test_native_signature_rotation),
        ROUTE_TEST(test_secret_equal),
    };
    return cmocka_run_group_tests_name("phone signatures", tests, route_group_setup,
                                       route_group_teardown);
}
