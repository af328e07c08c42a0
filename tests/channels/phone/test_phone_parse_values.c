/*
 * The readers the phone routes are built on, no server: times in the
 * formats phone systems send, application/x-www-form-urlencoded (and its
 * field limit: refused, not cut short) and phone numbers as people write
 * them, made international with a default country.
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
#include "gw_form.h"
#include "gw_validate.h"
#include "phone.h"

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        long want;
    } cases[] = {
        {"2026-11-21T10:00:00Z", T_2026_11_21},
        {"2026-11-21T18:00:00+08:00", T_2026_11_21},
        {"2026-11-21T18:00:00+0800", T_2026_11_21},
        {"2026-11-21T05:30:00-04:30", T_2026_11_21},
        {"2026-11-21T10:00:00.123Z", T_2026_11_21},
        {"2026-11-21T18:00:00.123456+08:00", T_2026_11_21},
        {"2026-11-21T10:00:01Z", T_2026_11_21 + 1},
        {"1970-01-01T00:00:01Z", 1},
        {"Sat, 21 Nov 2026 10:00:00 +0000", T_2026_11_21},
        {"Sat, 21 Nov 2026 18:00:00 +0800", T_2026_11_21},
        {"Sat, 21 Nov 2026 10:00:00 GMT", T_2026_11_21},
        {"21 Nov 2026 10:00:00 +0000", T_2026_11_21},
        {"1795255200", T_2026_11_21},
        {"0", 0},
        {"", 0},
        {"yesterday", 0},
        {"2026-11-21T10:00:00", 0},       /* no zone: ambiguous */
        {"2026-11-21T10:00:00+25:00", 0}, /* no such offset */
        {"2026-11-21T10:00:00Z trailing", 0},
        {"2026-13-01T00:00:00Z", 0},
        {"Sat, 21 Nov 2026 10:00:00 EST5", 0},
        {"17952552OO", 0},
        {"-1795255200", 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        long got = phone_parse_time(cases[i].in);
        if (got != cases[i].want)
            fail_msg("phone_parse_time(\"%s\") = %ld, want %ld", cases[i].in, got, cases[i].want);
    }
    assert_int_equal(phone_parse_time(NULL), 0);
}

static void test_form_parse(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_form f;

    assert_true(gw_form_parse(arena, "", 0, &f));
    assert_int_equal(f.n, 0);
    assert_null(gw_form_get(&f, "a"));

    const char *body = "a=b+c&plus=%2B86&name%5B%5D=x&empty=&bare&a=second&&zh=%E4%BD%A0";
    assert_true(gw_form_parse(arena, body, strlen(body), &f));
    assert_int_equal(f.n, 7);
    assert_str(gw_form_get(&f, "a"), "b c"); /* the first of two */
    assert_str(f.fields[5].value, "second");
    assert_str(gw_form_get(&f, "plus"), "+86");
    assert_str(gw_form_get(&f, "name[]"), "x");
    assert_str(gw_form_get(&f, "empty"), "");
    assert_str(gw_form_get(&f, "bare"), "");
    assert_str(gw_form_get(&f, "zh"), "你");
    assert_null(gw_form_get(&f, "missing"));
    /* Only len bytes are read. */
    assert_true(gw_form_parse(arena, "a=1&b=2", 3, &f));
    assert_int_equal(f.n, 1);
    assert_str(gw_form_get(&f, "a"), "1");

    const char *const bad[] = {"a=%", "a=%4",  "a=%4G", "a=%G4",    "a=1%",  "%=1",
                               "=1",  "a=%00", "a=%FF", "a=%C0%AF", "a=1&=2"};
    for (size_t i = 0; i < N(bad); i++)
        if (gw_form_parse(arena, bad[i], strlen(bad[i]), &f))
            fail_msg("accepted malformed form: %s", bad[i]);
    static const char nul[] = "a=1\0&b=2";
    assert_false(gw_form_parse(arena, nul, sizeof(nul) - 1, &f));
}

static void test_form_parse_field_limit(void **state)
{
    struct gw_arena *arena = *state;
    char *body = malloc(257 * 16);
    assert_non_null(body);
    size_t n = 0;
    for (int i = 0; i < 257; i++)
        n += (size_t)sprintf(body + n, "%sf%d=%d", i ? "&" : "", i, i);
    /* 256 fields: the limit, accepted. */
    size_t len256 = (size_t)(strrchr(body, '&') - body);
    struct gw_form f;
    assert_true(gw_form_parse(arena, body, len256, &f));
    assert_int_equal(f.n, 256);
    assert_str(gw_form_get(&f, "f255"), "255");
    /* 257: refused, not cut short. */
    assert_false(gw_form_parse(arena, body, n, &f));
    free(body);
}

static void test_normalize_phone_local(void **state)
{
    struct gw_arena *arena = *state;
    static const struct {
        const char *in, *country, *want;
    } cases[] = {
        /* national, with and without the trunk zero */
        {"013800138000", "86", "+8613800138000"},
        {"13800138000", "86", "+8613800138000"},
        {"010 8888 6666", "86", "+861088886666"},
        {"(010) 8888-6666", "86", "+861088886666"},
        {"020 7946 0958", "44", "+442079460958"},
        {"212-555-0123", "1", "+12125550123"},
        /* international forms ignore the default country */
        {"+44 20 7946 0958", "86", "+442079460958"},
        {"+44 (0)20 7946 0958", "86", "+442079460958"},
        {"0044 20 7946 0958", "86", "+442079460958"},
        {"  +8613800138000", "1", "+8613800138000"},
        {"+8613800138000", NULL, "+8613800138000"},
        /* not numbers */
        {"13800138000", NULL, NULL},
        {"12ab", "86", NULL},
        {"0", "86", NULL},
        {"", "86", NULL},
        {"+0123456789", "86", NULL},
        {"0123456789012345", "86", NULL},
        {"+86 138 0013 8000 ext 5", "86", NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *got = gw_normalize_phone_local(arena, cases[i].in, cases[i].country);
        if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want)))
            fail_msg("gw_normalize_phone_local(\"%s\", %s) = %s, want %s", cases[i].in,
                     cases[i].country ? cases[i].country : "NULL", got ? got : "NULL",
                     cases[i].want ? cases[i].want : "NULL");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROUTE_TEST(test_parse_time),
        ROUTE_TEST(test_form_parse),
        ROUTE_TEST(test_form_parse_field_limit),
        ROUTE_TEST(test_normalize_phone_local),
    };
    return cmocka_run_group_tests_name("phone values", tests, route_group_setup,
                                       route_group_teardown);
}
