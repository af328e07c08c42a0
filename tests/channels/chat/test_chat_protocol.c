/*
 * The chat protocol's parser and renderers, with no gateway: every message
 * type, and each way a message is refused (with its code and field).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "chat.h"
#include "gw_token.h"
#include "harness.h"

static bool parse(void **state, const char *text, struct chat_frame *f, struct chat_problem *p)
{
    return chat_parse_frame(text, strlen(text), *state, f, p);
}

static void test_hello_new_session_with_profile(void **state)
{
    struct chat_frame f;
    struct chat_problem p;
    assert_true(parse(state,
                      "{\"type\":\"hello\",\"lang\":\"zh-CN\",\"profile\":{\"name\":\"Li Lei\","
                      "\"email\":\"Li.Lei@Example.COM\",\"phone\":\"+86 138 0013 8000\"}}",
                      &f, &p));
    assert_int_equal(f.type, CHAT_HELLO);
    assert_null(f.token);
    assert_string_equal(f.language, "zh");
    assert_string_equal(f.name, "Li Lei");
    assert_string_equal(f.email, "li.lei@example.com");
    assert_string_equal(f.phone, "+8613800138000");
}

static void test_hello_resume(void **state)
{
    struct chat_frame f;
    struct chat_problem p;
    assert_true(parse(state,
                      "{\"type\":\"hello\",\"token\":\"abcDEF0123456789-_token\",\"last_seq\":42}",
                      &f, &p));
    assert_string_equal(f.token, "abcDEF0123456789-_token");
    assert_int_equal(f.last_seq, 42);
    assert_null(f.language);
}

static void test_message_typing_close(void **state)
{
    struct chat_frame f;
    struct chat_problem p;
    assert_true(parse(state, "{\"type\":\"message\",\"client_id\":\"c-1.a:b_2\",\"text\":\"你好\"}",
                      &f, &p));
    assert_int_equal(f.type, CHAT_MESSAGE);
    assert_string_equal(f.client_id, "c-1.a:b_2");
    assert_string_equal(f.text, "你好");
    assert_true(parse(state, "{\"type\":\"typing\"}", &f, &p));
    assert_int_equal(f.type, CHAT_TYPING);
    assert_true(parse(state, "{\"type\":\"close\"}", &f, &p));
    assert_int_equal(f.type, CHAT_CLOSE);
}

static void test_refusals_name_code_and_field(void **state)
{
    static const struct {
        const char *text, *code, *field;
    } cases[] = {
        {"{not json", "invalid_json", NULL},
        {"[1,2]", "invalid_json", NULL},
        {"\"hello\"", "invalid_json", NULL},
        {"{\"type\":\"hello\",\"type\":\"message\"}", "invalid_json", NULL},
        {"{\"lang\":\"en\"}", "invalid_field", "type"},
        {"{\"type\":7}", "invalid_field", "type"},
        {"{\"type\":\"shout\"}", "unknown_type", "type"},
        {"{\"type\":\"typing\",\"x\":1}", "unknown_field", "x"},
        {"{\"type\":\"hello\",\"token\":\"short\"}", "invalid_field", "token"},
        {"{\"type\":\"hello\",\"token\":\"has spaces in the token!!\"}", "invalid_field", "token"},
        {"{\"type\":\"hello\",\"last_seq\":-1}", "invalid_field", "last_seq"},
        {"{\"type\":\"hello\",\"last_seq\":\"3\"}", "invalid_field", "last_seq"},
        {"{\"type\":\"hello\",\"profile\":[]}", "invalid_field", "profile"},
        {"{\"type\":\"hello\",\"profile\":{\"email\":\"nope\"}}", "invalid_field", "email"},
        {"{\"type\":\"hello\",\"profile\":{\"phone\":\"call me\"}}", "invalid_field", "phone"},
        {"{\"type\":\"hello\",\"profile\":{\"age\":3}}", "unknown_field", "age"},
        {"{\"type\":\"hello\",\"profile\":{\"name\":5}}", "invalid_field", "name"},
        {"{\"type\":\"message\",\"text\":\"hi\"}", "invalid_field", "client_id"},
        {"{\"type\":\"message\",\"client_id\":\"a b\",\"text\":\"hi\"}", "invalid_field",
         "client_id"},
        {"{\"type\":\"message\",\"client_id\":\"a\"}", "invalid_field", "text"},
        {"{\"type\":\"message\",\"client_id\":\"a\",\"text\":\"  \\n \"}", "invalid_field", "text"},
        {"{\"type\":\"message\",\"client_id\":\"a\",\"text\":\"hi\",\"html\":\"<b>\"}",
         "unknown_field", "html"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct chat_frame f;
        struct chat_problem p;
        if (parse(state, cases[i].text, &f, &p))
            fail_msg("accepted: %s", cases[i].text);
        if (strcmp(p.code, cases[i].code))
            fail_msg("%s: code %s, want %s", cases[i].text, p.code, cases[i].code);
        if (cases[i].field ? !p.field || strcmp(p.field, cases[i].field) : p.field != NULL)
            fail_msg("%s: field %s, want %s", cases[i].text, p.field ? p.field : "(none)",
                     cases[i].field ? cases[i].field : "(none)");
        assert_non_null(p.reason);
    }
}

static void test_limits_on_text_and_names(void **state)
{
    struct chat_frame f;
    struct chat_problem p;
    char msg[CHAT_MESSAGE_MAX * 2];
    /* 4000 characters pass, 4001 do not (counted in characters, not bytes). */
    int n = snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"client_id\":\"a\",\"text\":\"");
    for (int i = 0; i < CHAT_TEXT_MAX; i++)
        msg[n++] = 'x';
    strcpy(msg + n, "\"}");
    assert_true(parse(state, msg, &f, &p));
    msg[n] = 'x';
    strcpy(msg + n + 1, "\"}");
    assert_false(parse(state, msg, &f, &p));
    assert_string_equal(p.code, "too_long");
    /* 1000 two-byte characters are 1000, not 2000. */
    n = snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"client_id\":\"a\",\"text\":\"");
    for (int i = 0; i < 1000; i++)
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, "é");
    strcpy(msg + n, "\"}");
    assert_true(parse(state, msg, &f, &p));
    /* A 65-character client id is refused. */
    n = snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"text\":\"x\",\"client_id\":\"");
    for (int i = 0; i <= CHAT_CLIENT_ID_MAX; i++)
        msg[n++] = 'a';
    strcpy(msg + n, "\"}");
    assert_false(parse(state, msg, &f, &p));
    assert_string_equal(p.field, "client_id");
}

static void test_invalid_utf8_is_refused(void **state)
{
    struct chat_frame f;
    struct chat_problem p;
    const char bad[] = "{\"type\":\"message\",\"client_id\":\"a\",\"text\":\"\xff\xfe\"}";
    assert_false(chat_parse_frame(bad, sizeof(bad) - 1, *state, &f, &p));
    assert_string_equal(p.code, "invalid_json");
}

static void test_token_hash_matches_sha256sum(void **state)
{
    (void)state;
    char hex[65];
    /* printf 'abcDEF0123456789-_token' | sha256sum */
    gw_token_hash("abcDEF0123456789-_token", hex);
    assert_string_equal(hex, "0d959a973af45c8a2258dbe1ff35bddfe4d5515a624f777f7eac263ef53fe27b");
    char t1[64], t2[64];
    assert_true(gw_token_new(t1, sizeof(t1)));
    assert_true(gw_token_new(t2, sizeof(t2)));
    assert_int_equal(strlen(t1), 43); /* 32 bytes, base64url without padding */
    assert_int_equal(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     43);
    assert_string_not_equal(t1, t2);
    char v[24];
    assert_true(chat_new_visitor(v, sizeof(v)));
    assert_int_equal(strncmp(v, "v-", 2), 0);
    assert_int_equal(strlen(v), 14);
}

static void test_notice_text_in_both_languages(void **state)
{
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:i}", "type", "notice", "notice", "received",
                           "ticket", "SR-000042", "language", "zh", "first_response_s", 1800);
    char *zh = chat_event_json(*state, ev);
    assert_non_null(strstr(zh, "SR-000042"));
    assert_non_null(strstr(zh, "30 分钟"));
    json_object_set_new(ev, "language", json_string("en"));
    json_object_set_new(ev, "name", json_string("Ana"));
    char *en = chat_event_json(*state, ev);
    assert_non_null(strstr(en, "Hello Ana, we have received your request: ticket SR-000042"));
    assert_non_null(strstr(en, "within 30 minutes"));
    json_decref(ev);
    /* Other events pass as they are. */
    json_t *m = json_pack("{s:s, s:s, s:i}", "type", "message", "text", "hi", "seq", 3);
    assert_string_equal(chat_event_json(*state, m),
                        "{\"type\":\"message\",\"text\":\"hi\",\"seq\":3}");
    json_decref(m);
}

static void test_origins(void **state)
{
    (void)state;
    char *list[] = {"https://shop.example", "http://localhost:3000"};
    struct chat_settings s = {.origins = list, .n_origins = 2};
    assert_true(chat_origin_allowed(&s, "https://shop.example"));
    assert_true(chat_origin_allowed(&s, "HTTPS://SHOP.EXAMPLE"));
    assert_true(chat_origin_allowed(&s, "http://localhost:3000"));
    assert_false(chat_origin_allowed(&s, "http://shop.example"));
    assert_false(chat_origin_allowed(&s, "https://shop.example.evil"));
    assert_false(chat_origin_allowed(&s, NULL));
    char *any[] = {"*"};
    struct chat_settings all = {.origins = any, .n_origins = 1};
    assert_true(chat_origin_allowed(&all, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello_new_session_with_profile, harness_setup_arena,
                                        harness_teardown_arena),
        cmocka_unit_test_setup_teardown(test_hello_resume, harness_setup_arena,
                                        harness_teardown_arena),
        cmocka_unit_test_setup_teardown(test_message_typing_close, harness_setup_arena,
                                        harness_teardown_arena),
        cmocka_unit_test_setup_teardown(test_refusals_name_code_and_field, harness_setup_arena,
                                        harness_teardown_arena),
        cmocka_unit_test_setup_teardown(test_limits_on_text_and_names, harness_setup_arena,
                                        harness_teardown_arena),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_is_refused, harness_setup_arena,
                                        harness_teardown_arena),
        cmocka_unit_test(test_token_hash_matches_sha256sum),
        cmocka_unit_test_setup_teardown(test_notice_text_in_both_languages, harness_setup_arena,
                                        harness_teardown_arena),
        cmocka_unit_test(test_origins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
