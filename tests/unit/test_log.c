/*
 * The logger's three formats (each line whole, logfmt that a logfmt reader
 * splits back into the fields given, JSON that jansson reads back), the
 * redactor that is the last line of defence for text from elsewhere, and
 * who the client is behind a trusted proxy.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_client_address.h"
#include "gw_log.h"

/* Runs fn with stderr going to a file; returns what it wrote (the caller frees). */
static char *captured(void (*fn)(void))
{
    char path[] = "/tmp/test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = calloc(1, 8192);
    ssize_t n = pread(fd, text, 8191, 0);
    assert_true(n >= 0);
    close(fd);
    unlink(path);
    return text;
}

static const char *const tricky = "say \"hi\"\\ to=you\nsecond line\t\x01 and 中文";

static void log_one_event(void)
{
    gw_log_event(GW_LOG_WARN, "outbox.failed",
                 GW_FIELDS(GW_STR("row", "42"), GW_STR("reason", tricky), GW_INT("attempt", 3),
                           GW_STR("absent", NULL), GW_STR("empty", "")),
                 "outbox: row %d failed", 42);
}

static void log_fields_only(void)
{
    gw_event(GW_LOG_INFO, "contact.registered", GW_STR("ticket", "SR-000123"),
             GW_STR("channel", "email"));
}

static void log_printf_line(void)
{
    gw_warn("server: %s", "two\nlines");
}

/* A logfmt reader: key=value pairs, values bare or quoted with JSON's escapes, as a JSON object. */
static json_t *parse_logfmt(const char *line)
{
    json_t *o = json_object();
    const char *p = line;
    while (*p && *p != '\n') {
        while (*p == ' ')
            p++;
        const char *eq = strchr(p, '=');
        assert_non_null(eq);
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
        for (const char *k = key; *k; k++)
            assert_true(*k > ' ' && *k != '"');
        p = eq + 1;
        if (*p == '"') {
            const char *q = p + 1;
            while (*q && *q != '"')
                q += *q == '\\' ? 2 : 1;
            assert_int_equal(*q, '"');
            /* JSON's string grammar reads the quoted value back. */
            char *quoted = strndup(p, (size_t)(q - p + 1));
            json_t *v = json_loads(quoted, JSON_DECODE_ANY, NULL);
            free(quoted);
            assert_non_null(v);
            json_object_set_new(o, key, v);
            p = q + 1;
        } else {
            size_t n = strcspn(p, " \n");
            json_object_set_new(o, key, json_stringn(p, n));
            p += n;
        }
        assert_true(*p == ' ' || *p == '\n' || !*p);
    }
    return o;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_keyvalue_reads_back_as_logfmt(void **state)
{
    (void)state;
    gw_log_set_format(GW_LOG_KEYVALUE);
    char *out = captured(log_one_event);
    gw_log_set_format(GW_LOG_TEXT);
    assert_int_equal(count_lines(out), 1);
    assert_memory_equal(out, "ts=", 3);
    json_t *o = parse_logfmt(out);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "event")), "outbox.failed");
    assert_string_equal(json_string_value(json_object_get(o, "row")), "42");
    assert_string_equal(json_string_value(json_object_get(o, "attempt")), "3");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), tricky);
    assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
    assert_null(json_object_get(o, "absent"));
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "outbox: row 42 failed");
    json_decref(o);
    free(out);
}

static void test_json_is_one_object_a_line(void **state)
{
    (void)state;
    gw_log_set_format(GW_LOG_JSON);
    char *out = captured(log_one_event);
    char *more = captured(log_printf_line);
    gw_log_set_format(GW_LOG_TEXT);
    assert_int_equal(count_lines(out), 1);
    json_error_t err;
    json_t *o = json_loads(out, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "event")), "outbox.failed");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), tricky);
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 3);
    assert_non_null(json_string_value(json_object_get(o, "ts")));
    json_decref(o);
    /* A printf line has a message and no event. */
    o = json_loads(more, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "server: two\nlines");
    assert_null(json_object_get(o, "event"));
    json_decref(o);
    free(out);
    free(more);
}

static void test_text_keeps_the_message_on_one_line(void **state)
{
    (void)state;
    char *line = captured(log_printf_line);
    assert_int_equal(count_lines(line), 1);
    assert_non_null(strstr(line, " warn server: two lines\n"));
    char *fields = captured(log_fields_only);
    assert_non_null(strstr(fields, " info contact.registered ticket=SR-000123 channel=email\n"));
    free(line);
    free(fields);
}

/* A client's id is kept when safe; anything that could split, quote or forge a field is not. */
static void test_request_ids(void **state)
{
    (void)state;
    char id[GW_REQUEST_ID_SIZE];
    assert_string_equal(gw_request_id_take("lb-7f3a.2_X", id), "lb-7f3a.2_X");
    char longest[GW_REQUEST_ID_MAX + 2];
    memset(longest, 'a', GW_REQUEST_ID_MAX);
    longest[GW_REQUEST_ID_MAX] = '\0';
    assert_string_equal(gw_request_id_take(longest, id), longest);
    longest[GW_REQUEST_ID_MAX] = 'a';
    longest[GW_REQUEST_ID_MAX + 1] = '\0';
    static const char *const refused[] = {
        NULL, "", "two words", "a\nlevel=error", "x\"y", "k=v", "tab\there", "\x01", "中文",
    };
    for (size_t i = 0; i <= sizeof(refused) / sizeof(refused[0]); i++) {
        const char *given = i < sizeof(refused) / sizeof(refused[0]) ? refused[i] : longest;
        gw_request_id_take(given, id);
        assert_int_equal(strlen(id), 16);
        assert_int_equal(strspn(id, "0123456789abcdef"), 16);
    }
    /* Two new ids differ. */
    char other[GW_REQUEST_ID_SIZE];
    assert_string_not_equal(gw_request_id_new(id), gw_request_id_new(other));
}

static void log_for_request(void)
{
    const char *was = gw_log_set_request("req-42");
    log_one_event();
    log_fields_only();
    log_printf_line();
    gw_log_set_request(was);
    log_fields_only(); /* none any more */
}

/* While a thread works for a request, each of its lines names it, in every format. */
static void test_lines_name_the_request(void **state)
{
    (void)state;
    char *text = captured(log_for_request);
    assert_int_equal(count_lines(text), 4);
    assert_non_null(strstr(text, " warn outbox: row 42 failed request=req-42\n"));
    assert_non_null(strstr(text, " channel=email request=req-42\n"));
    assert_non_null(strstr(text, " server: two lines request=req-42\n"));
    assert_non_null(strstr(text, " channel=email\n"));
    free(text);

    gw_log_set_format(GW_LOG_KEYVALUE);
    char *kv = captured(log_for_request);
    gw_log_set_format(GW_LOG_TEXT);
    json_t *o = parse_logfmt(kv);
    assert_string_equal(json_string_value(json_object_get(o, "request")), "req-42");
    json_decref(o);
    const char *last = kv;
    for (int i = 0; i < 3; i++)
        last = strchr(last, '\n') + 1;
    o = parse_logfmt(last);
    assert_null(json_object_get(o, "request"));
    json_decref(o);
    free(kv);

    gw_log_set_format(GW_LOG_JSON);
    char *js = captured(log_for_request);
    gw_log_set_format(GW_LOG_TEXT);
    char *line = js;
    for (int i = 0; i < 4; i++) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        o = json_loads(line, 0, NULL);
        assert_non_null(o);
        if (i < 3)
            assert_string_equal(json_string_value(json_object_get(o, "request")), "req-42");
        else
            assert_null(json_object_get(o, "request"));
        json_decref(o);
        line = end + 1;
    }
    free(js);
}

static void test_format_names(void **state)
{
    (void)state;
    assert_int_equal(gw_log_format_parse("text"), GW_LOG_TEXT);
    assert_int_equal(gw_log_format_parse("keyvalue"), GW_LOG_KEYVALUE);
    assert_int_equal(gw_log_format_parse("json"), GW_LOG_JSON);
    assert_int_equal(gw_log_format_parse("logfmt"), -1);
    assert_int_equal(gw_log_format_parse(NULL), -1);
}

static void redacts(const char *in, const char *want)
{
    char out[256];
    gw_log_redact(in, out, sizeof(out));
    if (strcmp(out, want))
        fail_msg("redact(\"%s\"): got \"%s\", want \"%s\"", in, out, want);
}

static void test_redactor(void **state)
{
    (void)state;
    redacts("550 5.1.1 <Zora.Quill@example.org>: Recipient address rejected",
            "550 5.1.1 <[address]>: Recipient address rejected");
    redacts("to bob+tag@sub.example.co.uk.", "to [address].");
    redacts("call +86 138 0013 8000 now", "call [number] now");
    redacts("call (555) 010-0199, or 555.010.0199", "call [number], or [number]");
    redacts("tel:+4420794600958", "tel:[number]");
    redacts("see https://u:pw@desk.example/s/AbC123xyz?t=1 ok",
            "see https://desk.example/[path] ok");
    redacts("token Zx81kQ0pLm2Nc7Vb4Tr9 used", "token [token] used");
    /* What names a server or a code stays. */
    redacts("HTTP 503", "HTTP 503");
    redacts("Failed to connect to 127.0.0.1 port 25", "Failed to connect to 127.0.0.1 port 25");
    redacts("421 4.7.0 try again later", "421 4.7.0 try again later");
    redacts("", "");
    char small[8];
    gw_log_redact("a@b.example and more", small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
}

static void reason(const char *in, const char *want)
{
    char out[256];
    gw_log_server_reason(in, out, sizeof(out));
    if (strcmp(out, want))
        fail_msg("server_reason(\"%s\"): got \"%s\", want \"%s\"", in, out, want);
}

static void test_server_reason_keeps_codes_only(void **state)
{
    (void)state;
    reason("recipient refused: 550 5.1.1 <x@y.example>: unknown user Zora Quill",
           "recipient refused: 550 5.1.1");
    reason("message refused: 554 Transaction failed for Zora Quill", "message refused: 554");
    reason("SMTP session failed: Connection refused", "SMTP session failed: Connection refused");
    reason("HTTP 500", "HTTP 500");
    reason("recipient refused: 452 4.2.2", "recipient refused: 452 4.2.2");
}

static void picks(const char *peer, const char *xff, const char *want)
{
    char *trusted[] = {"127.0.0.1", "10.0.0.0/8", "fd00::/8"};
    char out[64];
    gw_client_pick(peer, xff, trusted, 3, out, sizeof(out));
    if (strcmp(out, want))
        fail_msg("pick(%s, %s): got %s, want %s", peer, xff ? xff : "-", out, want);
}

static void test_client_behind_trusted_proxies(void **state)
{
    (void)state;
    /* Untrusted peers: their header is not believed. */
    picks("203.0.113.9", "198.51.100.1", "203.0.113.9");
    /* A trusted peer: the right-most hop it did not write itself. */
    picks("127.0.0.1", "198.51.100.1", "198.51.100.1");
    picks("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1");
    picks("::ffff:127.0.0.1", "198.51.100.7", "198.51.100.7");
    /* Through two trusted proxies: both skipped. */
    picks("127.0.0.1", "forged, 198.51.100.2, 10.1.2.3", "198.51.100.2");
    picks("fd00::1", "2001:db8::5", "2001:db8::5");
    /* Nothing but proxies: the left-most of them. */
    picks("127.0.0.1", "10.0.0.5", "10.0.0.5");
    /* Garbage right of any real hop: the last hop a trusted proxy vouched for. */
    picks("127.0.0.1", "198.51.100.1, junk", "127.0.0.1");
    picks("127.0.0.1", NULL, "127.0.0.1");
    picks("127.0.0.1", "", "127.0.0.1");

    assert_true(gw_client_cidr_valid("10.0.0.0/8"));
    assert_true(gw_client_cidr_valid("::1"));
    assert_true(gw_client_cidr_valid("2001:db8::/32"));
    assert_false(gw_client_cidr_valid("10.0.0.0/33"));
    assert_false(gw_client_cidr_valid("10.0.0.0/"));
    assert_false(gw_client_cidr_valid("proxy.example"));
    assert_false(gw_client_cidr_valid("::1/129"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyvalue_reads_back_as_logfmt),
        cmocka_unit_test(test_json_is_one_object_a_line),
        cmocka_unit_test(test_text_keeps_the_message_on_one_line),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_lines_name_the_request),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_redactor),
        cmocka_unit_test(test_server_reason_keeps_codes_only),
        cmocka_unit_test(test_client_behind_trusted_proxies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
