/*
 * The shared normalizers: email addresses (lower-cased, modest checks), phone
 * numbers to E.164, strict UTF-8 validation, code point counting and callback
 * URL checks. Each rejection case names the rule it exercises.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_arena.h"
#include "gw_validate.h"

static int arena_setup(void **state)
{
    *state = gw_arena_create(1024);
    return *state ? 0 : -1;
}

static int arena_teardown(void **state)
{
    gw_arena_destroy(*state);
    return 0;
}

static void test_email_normalized(void **state)
{
    struct gw_arena *a = *state;
    assert_string_equal(gw_normalize_email(a, "Alice.Smith@Example.COM"),
                        "alice.smith@example.com");
    assert_string_equal(gw_normalize_email(a, "bob+tag@mail.example.co.uk"),
                        "bob+tag@mail.example.co.uk");
    assert_string_equal(gw_normalize_email(a, "a@b.cn"), "a@b.cn");
    assert_string_equal(gw_normalize_email(a, "ZHANG_WEI@QQ.COM"), "zhang_wei@qq.com");
}

static void test_email_result_is_a_copy(void **state)
{
    struct gw_arena *a = *state;
    char in[] = "User@Example.com";
    char *out = gw_normalize_email(a, in);
    assert_non_null(out);
    assert_ptr_not_equal(out, in);
    assert_string_equal(in, "User@Example.com"); /* the input is left alone */
    assert_string_equal(out, "user@example.com");
}

static void test_email_rejected(void **state)
{
    struct gw_arena *a = *state;
    static const char *const bad[] = {
        "",                        /* empty */
        "userexample.com",         /* no @ */
        "user@@example.com",       /* two @ */
        "us@er@example.com",       /* two @ */
        "@example.com",            /* no local part */
        "user@localhost",          /* no dot in the domain */
        "first.last@localhost",    /* the dot must be in the domain */
        "user@example.com.",       /* trailing dot */
        "user@.example.com",       /* domain starts with a dot */
        "user@example..com",       /* empty label */
        "us er@example.com",       /* space */
        "user@example.com ",       /* trailing space */
        " user@example.com",       /* leading space */
        "user\t@example.com",      /* control character */
        "user@exam ple.com",       /* space in the domain */
        "\"user\"@example.com",    /* quotes */
        "Name <user@example.com>", /* a display name is not an address */
        "a@b,c@d.com",             /* list */
        "user@",                   /* no domain */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = gw_normalize_email(a, bad[i]);
        if (got)
            fail_msg("\"%s\" accepted as \"%s\"", bad[i], got);
    }
}

static void test_email_length_limit(void **state)
{
    struct gw_arena *a = *state;
    const char *domain = "@example.com";
    char buf[300];
    size_t dl = strlen(domain);

    /* 254 characters: the longest address SMTP allows. */
    memset(buf, 'a', 254 - dl);
    memcpy(buf + 254 - dl, domain, dl + 1);
    assert_int_equal(strlen(buf), 254);
    char *ok = gw_normalize_email(a, buf);
    assert_non_null(ok);
    assert_string_equal(ok, buf);

    /* 255: too long. */
    memset(buf, 'a', 255 - dl);
    memcpy(buf + 255 - dl, domain, dl + 1);
    assert_int_equal(strlen(buf), 255);
    assert_null(gw_normalize_email(a, buf));
}

static void test_phone_normalized(void **state)
{
    struct gw_arena *a = *state;
    assert_string_equal(gw_normalize_phone(a, "+86 138-0013-8000"), "+8613800138000");
    assert_string_equal(gw_normalize_phone(a, "0044 20 7946 0958"), "+442079460958");
    assert_string_equal(gw_normalize_phone(a, "+8613800138000"), "+8613800138000");
    assert_string_equal(gw_normalize_phone(a, "+1 (415) 555-2671"), "+14155552671");
    assert_string_equal(gw_normalize_phone(a, "+44.20.7946.0958"), "+442079460958");
    assert_string_equal(gw_normalize_phone(a, "  +86 10 1234 5678"), "+861012345678");
    /* The bracketed trunk zero is dropped, so both spellings are one caller. */
    assert_string_equal(gw_normalize_phone(a, "+44 (0)20 7946 0958"), "+442079460958");
    /* The limits: 7 and 15 digits. */
    assert_string_equal(gw_normalize_phone(a, "+1234567"), "+1234567");
    assert_string_equal(gw_normalize_phone(a, "+123456789012345"), "+123456789012345");
}

static void test_phone_rejected(void **state)
{
    struct gw_arena *a = *state;
    static const char *const bad[] = {
        "",                   /* empty */
        "+",                  /* no digits */
        "13800138000",        /* no country code */
        "(010) 1234 5678",    /* no country code */
        "0 44 20 7946 0958",  /* a single 0 is not 00 */
        "+86 138 0013 800a",  /* letter */
        "+86 CALL-ME-NOW",    /* letters */
        "+86/138/0013/8000",  /* slash */
        "+86 138\t0013 8000", /* tab */
        "+123456",            /* 6 digits: too short */
        "+1234567890123456",  /* 16 digits: too long */
        "+0123456789",        /* no country code starts with 0 */
        "000123456789",       /* 00 then a 0 */
        "++8613800138000",    /* two plus signs */
        "+86 138+0013",       /* plus inside */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = gw_normalize_phone(a, bad[i]);
        if (got)
            fail_msg("\"%s\" accepted as \"%s\"", bad[i], got);
    }
}

static void test_phone_long_input_with_separators(void **state)
{
    struct gw_arena *a = *state;
    /* Separators do not count towards the 15 digits. */
    assert_string_equal(gw_normalize_phone(a, "+1-2-3-4-5-6-7-8-9-0-1-2-3-4-5"),
                        "+123456789012345");
    assert_null(gw_normalize_phone(a, "+1-2-3-4-5-6-7-8-9-0-1-2-3-4-5-6"));
}

/* n excludes the terminator, so sequences cut short by n are seen as truncated. */
static bool valid(const char *s)
{
    return gw_utf8_valid(s, strlen(s));
}

static void test_utf8_accepts(void **state)
{
    (void)state;
    assert_true(gw_utf8_valid("", 0));
    assert_true(valid("plain ASCII, with punctuation!"));
    assert_true(valid("\xC2\x80"));         /* U+0080, smallest 2-byte */
    assert_true(valid("caf\xC3\xA9"));      /* é */
    assert_true(valid("\xDF\xBF"));         /* U+07FF */
    assert_true(valid("\xE0\xA0\x80"));     /* U+0800, smallest 3-byte */
    assert_true(valid("中文客服"));         /* CJK */
    assert_true(valid("\xED\x9F\xBF"));     /* U+D7FF, just below the surrogates */
    assert_true(valid("\xEE\x80\x80"));     /* U+E000, just above them */
    assert_true(valid("\xEF\xBF\xBF"));     /* U+FFFF */
    assert_true(valid("\xF0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    assert_true(valid("\xF0\x9F\x98\x80")); /* 😀 */
    assert_true(valid("ok \xF0\x9F\x91\x8D 好的"));
    assert_true(valid("\xF4\x8F\xBF\xBF")); /* U+10FFFF, the last code point */
    /* NUL is a valid character; the length decides where the text ends. */
    assert_true(gw_utf8_valid("a\0b", 3));
    assert_true(gw_utf8_valid("abc\xFF", 3));
}

static void test_utf8_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xC0\xAF",                 /* overlong '/' */
        "\xC1\xBF",                 /* overlong */
        "\xE0\x80\xAF",             /* overlong 3-byte */
        "\xE0\x9F\xBF",             /* overlong U+07FF */
        "\xF0\x80\x80\xAF",         /* overlong 4-byte */
        "\xF0\x8F\xBF\xBF",         /* overlong U+FFFF */
        "\xED\xA0\x80",             /* surrogate U+D800 */
        "\xED\xBF\xBF",             /* surrogate U+DFFF */
        "\xF4\x90\x80\x80",         /* U+110000 */
        "\xF5\x80\x80\x80",         /* past U+10FFFF */
        "\xF7\xBF\xBF\xBF",         /* past U+10FFFF */
        "\xF8\x88\x80\x80\x80",     /* 5-byte form */
        "\xFC\x84\x80\x80\x80\x80", /* 6-byte form */
        "\xFE",                     /* never valid */
        "\xFF",                     /* never valid */
        "\x80",                     /* lone continuation */
        "a\xBF",                    /* lone continuation after ASCII */
        "\xC3\x28",                 /* continuation missing */
        "\xE4\xBD\x28",             /* continuation missing in 3-byte */
        "\xF0\x9F\x98\x28",         /* continuation missing in 4-byte */
        "\xC3",                     /* truncated 2-byte at the end */
        "\xE4\xBD",                 /* truncated 3-byte */
        "\xF0\x9F\x98",             /* truncated 4-byte */
        "ok\xE4",                   /* truncated after text */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (valid(bad[i]))
            fail_msg("bad sequence %zu accepted", i);
    /* A valid character cut by the length is truncated too. */
    assert_false(gw_utf8_valid("\xE4\xB8\xAD", 2));
    assert_false(gw_utf8_valid("\xF0\x9F\x98\x80", 3));
}

static void test_utf8_length(void **state)
{
    (void)state;
    assert_int_equal(gw_utf8_length(""), 0);
    assert_int_equal(gw_utf8_length("abc"), 3);
    assert_int_equal(gw_utf8_length("caf\xC3\xA9"), 4);
    assert_int_equal(gw_utf8_length("中文"), 2);
    assert_int_equal(gw_utf8_length("a\xF0\x9F\x98\x80z"), 3);
    assert_int_equal(gw_utf8_length("工单SR-1"), 6);
}

static void test_http_url_valid(void **state)
{
    (void)state;
    assert_true(gw_http_url_valid("http://example.com"));
    assert_true(gw_http_url_valid("https://example.com/hooks/ack?x=1&y=2"));
    assert_true(gw_http_url_valid("http://127.0.0.1:9000/cb"));
    assert_true(gw_http_url_valid("https://[::1]:8443/cb"));

    assert_false(gw_http_url_valid(""));
    assert_false(gw_http_url_valid("ftp://x"));
    assert_false(gw_http_url_valid("example.com"));
    assert_false(gw_http_url_valid("javascript:alert(1)"));
    assert_false(gw_http_url_valid("http:/example.com"));
    assert_false(gw_http_url_valid("http://"));
    assert_false(gw_http_url_valid("https://"));
    assert_false(gw_http_url_valid("https:///path"));
    assert_false(gw_http_url_valid("http://exa mple.com"));
    assert_false(gw_http_url_valid("http://example.com/a b"));
    assert_false(gw_http_url_valid("http://example.com/\t"));
    assert_false(gw_http_url_valid("http://example.com/\r\nX-Injected: 1"));
    assert_false(gw_http_url_valid("http://example.com/\x7f"));
}

static void test_http_url_length_cap(void **state)
{
    (void)state;
    char url[2100];
    const char *prefix = "https://example.com/";
    size_t pl = strlen(prefix);
    memcpy(url, prefix, pl);
    memset(url + pl, 'a', 2048 - pl);
    url[2048] = '\0';
    assert_true(gw_http_url_valid(url));
    url[2048] = 'a';
    url[2049] = '\0';
    assert_false(gw_http_url_valid(url));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, arena_setup, arena_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_email_normalized),
        T(test_email_result_is_a_copy),
        T(test_email_rejected),
        T(test_email_length_limit),
        T(test_phone_normalized),
        T(test_phone_rejected),
        T(test_phone_long_input_with_separators),
        cmocka_unit_test(test_utf8_accepts),
        cmocka_unit_test(test_utf8_rejects),
        cmocka_unit_test(test_utf8_length),
        cmocka_unit_test(test_http_url_valid),
        cmocka_unit_test(test_http_url_length_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
