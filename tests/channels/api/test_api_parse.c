/*
 * The API channel through its exported struct only, as the core sees it:
 * parse (fixture files under tests/fixtures/api/ into a contact or a 400 naming
 * the field), respond (a registration result into 201/200/503) and render_ack
 * (an outbox payload into a callback POST). No server, no database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include <jansson.h>

#include "gw_arena.h"
#include "gw_channel.h"
#include "gw_config.h"
#include "gw_contact.h"
#include "gw_intake.h"

extern const struct gw_channel gw_channel_api;

struct fixture {
    struct gw_config *cfg;
};

static struct fixture fx;

static int group_setup(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    enum gw_err err = gw_config_load_text(NULL, &fx.cfg, &pr);
    gw_problems_clear(&pr);
    return err == GW_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    gw_config_free(fx.cfg);
    return 0;
}

static const char *no_header(const struct gw_http_request *req, const char *name)
{
    (void)req;
    (void)name;
    return NULL;
}

/* The whole fixture file, malloc'd and NUL-terminated; *len excludes the terminator. */
static unsigned char *read_fixture(const char *name, size_t *len)
{
    char rel[512];
    snprintf(rel, sizeof(rel), "api/%s", name);
    return harness_read_fixture(rel, len);
}

static struct gw_http_request make_request(const unsigned char *body, size_t len,
                                           const char *content_type)
{
    struct gw_http_request req = {
        .method = "POST",
        .path = "/v1/contacts",
        .query = NULL,
        .content_type = content_type,
        .body = body,
        .body_len = len,
        .header = no_header,
        .header_ctx = NULL,
        .config = fx.cfg,
    };
    return req;
}

static const struct gw_route *contacts_route(void)
{
    assert_true(gw_channel_api.n_routes >= 1);
    return &gw_channel_api.routes[0];
}

/* Parses a fixture with the given content type; the body buffer is freed before returning. */
static enum gw_err parse_fixture_as(const char *name, const char *content_type,
                                    struct gw_arena *arena, struct gw_contact *contact,
                                    struct gw_http_reply *reply)
{
    size_t len;
    unsigned char *body = read_fixture(name, &len);
    struct gw_http_request req = make_request(body, len, content_type);
    memset(reply, 0, sizeof(*reply));
    enum gw_err err = contacts_route()->parse(&req, arena, contact, reply);
    /* Freed now so that any pointer left into the request body shows up under ASan. */
    free(body);
    return err;
}

static enum gw_err parse_fixture(const char *name, struct gw_arena *arena,
                                 struct gw_contact *contact, struct gw_http_reply *reply)
{
    return parse_fixture_as(name, "application/json", arena, contact, reply);
}

/* The reply body as JSON; the caller decrefs. */
static json_t *reply_json(const struct gw_http_reply *reply)
{
    assert_non_null(reply->body);
    assert_int_equal(strlen(reply->body), reply->body_len);
    assert_string_equal(reply->content_type, "application/json");
    json_error_t jerr;
    json_t *o = json_loadb(reply->body, reply->body_len, 0, &jerr);
    if (!json_is_object(o))
        fail_msg("reply body is not a JSON object: %s", reply->body);
    return o;
}

/* ---- valid inputs ---- */

static void test_valid_full(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_int_equal(parse_fixture("valid_full.json", arena, &c, &reply), GW_OK);
    assert_string_equal(c.channel, "api");
    assert_string_equal(gw_channel_api.name, "api");
    assert_string_equal(c.idempotency_key, "api:crm-1001");
    assert_string_equal(c.sender.name, "Alice Smith");
    assert_string_equal(c.sender.email, "alice.smith@example.com");
    assert_string_equal(c.sender.phone, "+8613800138000");
    assert_string_equal(c.sender.company, "Acme Ltd");
    assert_string_equal(c.sender.language, "en");
    assert_null(c.sender.chat_id);
    assert_string_equal(c.subject, "Order 1234 not delivered");
    assert_string_equal(c.body, "My order 1234 has not arrived yet.");
    assert_string_equal(c.ticket_ref, "SR-000123");
    assert_string_equal(c.product, "Widget Pro");
    assert_string_equal(c.reply_handle, "https://crm.example.com/hooks/ack");
    assert_int_equal(c.n_attachments, 0);
    assert_int_equal(c.n_thread_refs, 0);
}

static void test_valid_minimal_phone(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    /* Leftovers from an earlier contact must not survive into this one. */
    memset(&c, 0x5A, sizeof(c));
    assert_int_equal(parse_fixture("valid_minimal_phone.json", arena, &c, &reply), GW_OK);
    assert_string_equal(c.channel, "api");
    assert_string_equal(c.idempotency_key, "api:form-42");
    assert_string_equal(c.sender.phone, "+442079460958");
    assert_null(c.sender.email);
    assert_null(c.sender.name);
    assert_null(c.sender.company);
    assert_null(c.sender.language);
    assert_null(c.subject);
    assert_string_equal(c.body, "Please call me back.");
    assert_null(c.ticket_ref);
    assert_null(c.product);
    assert_null(c.reply_handle);
    assert_null(c.attachments);
    assert_int_equal(c.n_attachments, 0);
}

static void test_valid_chinese(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_int_equal(parse_fixture("chinese.json", arena, &c, &reply), GW_OK);
    assert_string_equal(c.idempotency_key, "api:微信-0007");
    assert_string_equal(c.sender.name, "张伟");
    assert_string_equal(c.sender.email, "zhang.wei@example.cn");
    assert_null(c.sender.phone);
    assert_string_equal(c.sender.company, "北京某某科技有限公司");
    assert_string_equal(c.sender.language, "zh");
    assert_string_equal(c.subject, "订单一直没有发货");
    assert_string_equal(c.body, "你好，我的订单已经下了一周了还没有发货，请尽快处理。谢谢！");
    assert_string_equal(c.product, "智能音箱");
}

static void test_valid_explicit_nulls(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_int_equal(parse_fixture("valid_nulls.json", arena, &c, &reply), GW_OK);
    assert_string_equal(c.sender.email, "x@example.org");
    assert_null(c.sender.name);
    assert_null(c.sender.phone);
    assert_null(c.subject);
    assert_null(c.sender.language);
    assert_null(c.ticket_ref);
    assert_null(c.reply_handle);
    assert_string_equal(c.body, "hello");
}

static void test_content_type_with_parameters(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_int_equal(parse_fixture_as("valid_minimal_phone.json", "application/json; charset=utf-8",
                                      arena, &c, &reply),
                     GW_OK);
    assert_int_equal(
        parse_fixture_as("valid_minimal_phone.json", "Application/JSON", arena, &c, &reply), GW_OK);
}

/* ---- rejected inputs ---- */

struct bad_case {
    const char *name; /* shown as the test's name */
    const char *file;
    const char *content_type;
    int status;
    const char *field; /* NULL: the whole body is at fault, no "field" */
};

static const struct bad_case bad_cases[] = {
    {"bad: malformed JSON", "bad_malformed.json", "application/json", 400, NULL},
    {"bad: invalid UTF-8 bytes", "bad_utf8.json", "application/json", 400, NULL},
    {"bad: body not an object", "bad_not_object.json", "application/json", 400, NULL},
    {"bad: duplicate keys", "bad_duplicate_keys.json", "application/json", 400, NULL},
    {"bad: duplicate nested keys", "bad_duplicate_nested_keys.json", "application/json", 400, NULL},
    {"bad: \\u0000 in a string", "bad_nul_escape.json", "application/json", 400, NULL},
    {"bad: text/plain", "valid_full.json", "text/plain", 415, NULL},
    {"bad: form content type", "valid_full.json", "application/x-www-form-urlencoded", 415, NULL},
    {"bad: missing external_id", "bad_missing_external_id.json", "application/json", 400,
     "external_id"},
    {"bad: empty external_id", "bad_empty_external_id.json", "application/json", 400,
     "external_id"},
    {"bad: numeric external_id", "bad_external_id_number.json", "application/json", 400,
     "external_id"},
    {"bad: missing customer", "bad_missing_customer.json", "application/json", 400, "customer"},
    {"bad: customer not an object", "bad_customer_not_object.json", "application/json", 400,
     "customer"},
    {"bad: customer without email and phone", "bad_customer_no_contact.json", "application/json",
     400, "customer.email"},
    {"bad: email", "bad_email.json", "application/json", 400, "customer.email"},
    {"bad: phone", "bad_phone.json", "application/json", 400, "customer.phone"},
    {"bad: unknown customer field", "bad_unknown_customer_field.json", "application/json", 400,
     "customer.age"},
    {"bad: missing body", "bad_missing_body.json", "application/json", 400, "body"},
    {"bad: empty body", "bad_empty_body.json", "application/json", 400, "body"},
    {"bad: blank body", "bad_blank_body.json", "application/json", 400, "body"},
    {"bad: application/jsonl", "valid_minimal_phone.json", "application/jsonl", 415, NULL},
    {"bad: body an array", "bad_body_array.json", "application/json", 400, "body"},
    {"bad: number for subject", "bad_subject_number.json", "application/json", 400, "subject"},
    {"bad: unknown field", "bad_unknown_field.json", "application/json", 400, "priority"},
    {"bad: language fr", "bad_language.json", "application/json", 400, "language"},
    {"bad: ticket without SR-", "bad_ticket.json", "application/json", 400, "ticket"},
    {"bad: callback_url ftp://", "bad_callback_url.json", "application/json", 400, "callback_url"},
};

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

/* The arena of the current bad-input test; state carries the case itself. */
static struct gw_arena *bad_arena;

static int setup_bad(void **state)
{
    (void)state;
    bad_arena = gw_arena_create(4096);
    return bad_arena ? 0 : -1;
}

static int teardown_bad(void **state)
{
    (void)state;
    gw_arena_destroy(bad_arena);
    bad_arena = NULL;
    return 0;
}

static void test_bad_input(void **state)
{
    const struct bad_case *bc = *state;
    struct gw_arena *arena = bad_arena;
    struct gw_contact c;
    struct gw_http_reply reply;
    enum gw_err err = parse_fixture_as(bc->file, bc->content_type, arena, &c, &reply);
    print_message("  %s (%s): %d %s\n", bc->file, bc->content_type, reply.status,
                  reply.body ? reply.body : "(no body)");
    assert_int_equal(err, GW_ERR_INVALID);
    assert_int_equal(reply.status, bc->status);
    json_t *o = reply_json(&reply);
    const char *msg = json_string_value(json_object_get(o, "error"));
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    json_t *field = json_object_get(o, "field");
    if (bc->field) {
        assert_true(json_is_string(field));
        assert_string_equal(json_string_value(field), bc->field);
    } else {
        assert_null(field);
    }
    json_decref(o);
}

static void test_malformed_json_says_where(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_int_equal(parse_fixture("bad_malformed.json", arena, &c, &reply), GW_ERR_INVALID);
    json_t *o = reply_json(&reply);
    const char *msg = json_string_value(json_object_get(o, "error"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "line "));
    assert_non_null(strstr(msg, "column "));
    json_decref(o);
}

/* Parses an in-memory body; for cases a fixture file would only obscure. */
static enum gw_err parse_text(struct gw_arena *arena, const char *text, struct gw_contact *c,
                              struct gw_http_reply *reply)
{
    size_t len = strlen(text);
    unsigned char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    struct gw_http_request req = make_request(copy, len, "application/json");
    memset(reply, 0, sizeof(*reply));
    enum gw_err err = contacts_route()->parse(&req, arena, c, reply);
    free(copy);
    return err;
}

static const char *rejected_field(struct gw_arena *arena, const char *text)
{
    struct gw_contact c;
    struct gw_http_reply reply;
    if (parse_text(arena, text, &c, &reply) != GW_ERR_INVALID)
        fail_msg("accepted: %s", text);
    assert_int_equal(reply.status, 400);
    json_t *o = reply_json(&reply);
    const char *f = json_string_value(json_object_get(o, "field"));
    const char *copy = f ? gw_arena_strdup(arena, f) : NULL;
    json_decref(o);
    return copy;
}

/* A request whose external_id is count copies of unit; the caller frees it. */
static char *with_external_id(const char *unit, size_t count)
{
    size_t ul = strlen(unit);
    char *id = malloc(ul * count + 1);
    assert_non_null(id);
    for (size_t i = 0; i < count; i++)
        memcpy(id + i * ul, unit, ul);
    id[ul * count] = '\0';
    size_t cap = ul * count + 200;
    char *text = malloc(cap);
    assert_non_null(text);
    snprintf(text, cap,
             "{\"external_id\": \"%s\", \"customer\": {\"email\": \"a@example.com\"},"
             " \"body\": \"hi\"}",
             id);
    free(id);
    return text;
}

static void test_length_limits(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;

    char *text = with_external_id("x", 201);
    assert_string_equal(rejected_field(arena, text), "external_id");
    free(text);
    text = with_external_id("x", 200);
    assert_int_equal(parse_text(arena, text, &c, &reply), GW_OK);
    free(text);

    /* The limit counts characters, not bytes: 200 ideographs are 600 bytes. */
    text = with_external_id("工", 200);
    assert_int_equal(parse_text(arena, text, &c, &reply), GW_OK);
    assert_int_equal(strlen(c.idempotency_key), 4 + 600);
    free(text);
    text = with_external_id("工", 201);
    assert_string_equal(rejected_field(arena, text), "external_id");
    free(text);

    assert_string_equal(rejected_field(arena, "{\"external_id\": \"t\", \"customer\": {\"email\":"
                                              " \"a@example.com\"}, \"body\": \"hi\","
                                              " \"ticket\": \"SR-00000000000000000000000000001\"}"),
                        "ticket");
}

static void test_raw_nul_byte_rejected(void **state)
{
    struct gw_arena *arena = *state;
    static const char body[] = "{\"external_id\": \"n\", \"customer\": {\"email\":"
                               " \"a@example.com\"}, \"body\": \"before\0after\"}";
    struct gw_http_request req =
        make_request((const unsigned char *)body, sizeof(body) - 1, "application/json");
    struct gw_contact c;
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    /* Accepting it would silently cut the body at the NUL. */
    assert_int_equal(contacts_route()->parse(&req, arena, &c, &reply), GW_ERR_INVALID);
    assert_int_equal(reply.status, 400);
}

static void test_empty_request_body(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_int_equal(parse_text(arena, "", &c, &reply), GW_ERR_INVALID);
    assert_int_equal(reply.status, 400);
}

static void test_customer_null_is_missing(void **state)
{
    struct gw_arena *arena = *state;
    assert_string_equal(
        rejected_field(arena, "{\"external_id\": \"a\", \"customer\": null, \"body\": \"hi\"}"),
        "customer");
    assert_string_equal(rejected_field(arena, "{\"external_id\": \"a\", \"customer\": "
                                              "{\"email\": \"\"}, \"body\": \"hi\"}"),
                        "customer.email");
    assert_string_equal(rejected_field(arena,
                                       "{\"external_id\": \"a\", \"customer\": "
                                       "{\"email\": \"a@example.com\", \"phone\": 8613800138000},"
                                       " \"body\": \"hi\"}"),
                        "customer.phone");
}

/* ---- respond ---- */

static struct gw_intake_result sample_result(void)
{
    struct gw_intake_result r;
    memset(&r, 0, sizeof(r));
    r.err = GW_OK;
    r.new_ticket = true;
    r.new_customer = true;
    snprintf(r.ticket, sizeof(r.ticket), "SR-000123");
    snprintf(r.customer, sizeof(r.customer), "C-000045");
    snprintf(r.category, sizeof(r.category), "order");
    snprintf(r.priority, sizeof(r.priority), "normal");
    snprintf(r.queue, sizeof(r.queue), "orders");
    snprintf(r.language, sizeof(r.language), "en");
    return r;
}

static void test_respond_created(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_intake_result r = sample_result();
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    contacts_route()->respond(&r, arena, &reply);
    assert_int_equal(reply.status, 201);
    assert_int_equal(reply.retry_after_s, 0);
    json_t *o = reply_json(&reply);
    assert_string_equal(json_string_value(json_object_get(o, "ticket")), "SR-000123");
    assert_string_equal(json_string_value(json_object_get(o, "customer")), "C-000045");
    assert_string_equal(json_string_value(json_object_get(o, "category")), "order");
    assert_string_equal(json_string_value(json_object_get(o, "priority")), "normal");
    assert_string_equal(json_string_value(json_object_get(o, "queue")), "orders");
    assert_string_equal(json_string_value(json_object_get(o, "language")), "en");
    assert_true(json_is_false(json_object_get(o, "duplicate")));
    assert_true(json_is_true(json_object_get(o, "new_ticket")));
    json_decref(o);
}

static void test_respond_duplicate(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_intake_result r = sample_result();
    r.duplicate = true;
    r.new_ticket = false;
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    contacts_route()->respond(&r, arena, &reply);
    assert_int_equal(reply.status, 200);
    json_t *o = reply_json(&reply);
    assert_true(json_is_true(json_object_get(o, "duplicate")));
    assert_true(json_is_false(json_object_get(o, "new_ticket")));
    assert_string_equal(json_string_value(json_object_get(o, "ticket")), "SR-000123");
    json_decref(o);
}

static void test_respond_db_unavailable(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_intake_result r;
    memset(&r, 0, sizeof(r));
    r.err = GW_ERR_DB_UNAVAILABLE;
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    contacts_route()->respond(&r, arena, &reply);
    assert_int_equal(reply.status, 503);
    assert_true(reply.retry_after_s > 0);
    json_t *o = reply_json(&reply);
    assert_non_null(json_string_value(json_object_get(o, "error")));
    assert_null(json_object_get(o, "ticket"));
    json_decref(o);
}

static void test_respond_busy_is_retryable(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_intake_result r;
    memset(&r, 0, sizeof(r));
    r.err = GW_ERR_BUSY;
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    contacts_route()->respond(&r, arena, &reply);
    assert_int_equal(reply.status, 503);
    assert_true(reply.retry_after_s > 0);
}

/* ---- render_ack ---- */

static json_t *ack_payload(const char *language, const char *reply_handle)
{
    json_t *ack =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "ticket", "SR-000123", "customer", "C-000045",
                  "priority", "urgent", "category", "aftersale.fault.software", "language",
                  language, "first_response_s", 300);
    assert_non_null(ack);
    if (reply_handle)
        json_object_set_new(ack, "reply_handle", json_string(reply_handle));
    return ack;
}

static void test_ack_without_reply_handle(void **state)
{
    struct gw_arena *arena = *state;
    json_t *ack = ack_payload("en", NULL);
    struct gw_delivery d;
    memset(&d, 0x5A, sizeof(d));
    assert_int_equal(gw_channel_api.render_ack(ack, fx.cfg, arena, &d), GW_OK);
    assert_int_equal(d.kind, GW_DELIVER_NONE);
    json_decref(ack);
}

/* The delivery body as JSON after checking the envelope; the caller decrefs. */
static json_t *rendered(struct gw_arena *arena, const json_t *ack, const char *url)
{
    struct gw_delivery d;
    memset(&d, 0, sizeof(d));
    assert_int_equal(gw_channel_api.render_ack(ack, fx.cfg, arena, &d), GW_OK);
    assert_int_equal(d.kind, GW_DELIVER_HTTP_POST);
    assert_string_equal(d.url, url);
    assert_string_equal(d.content_type, "application/json");
    assert_non_null(d.body);
    assert_int_equal(d.body_len, strlen(d.body));
    json_error_t jerr;
    json_t *o = json_loadb(d.body, d.body_len, 0, &jerr);
    if (!json_is_object(o))
        fail_msg("delivery body is not a JSON object: %s", d.body);
    return o;
}

static void test_ack_english(void **state)
{
    struct gw_arena *arena = *state;
    const char *url = "https://crm.example.com/hooks/ack";
    json_t *ack = ack_payload("en", url);
    json_t *o = rendered(arena, ack, url);
    assert_string_equal(json_string_value(json_object_get(o, "ticket")), "SR-000123");
    assert_string_equal(json_string_value(json_object_get(o, "customer")), "C-000045");
    assert_string_equal(json_string_value(json_object_get(o, "priority")), "urgent");
    const char *msg = json_string_value(json_object_get(o, "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "SR-000123"));
    /* The urgent promise (5 minutes) and the 24 h ceiling. */
    assert_non_null(strstr(msg, "5 minutes"));
    assert_non_null(strstr(msg, "24 hours"));
    json_decref(o);
    json_decref(ack);
}

static void test_ack_chinese(void **state)
{
    struct gw_arena *arena = *state;
    const char *url = "http://127.0.0.1:9000/cb";
    json_t *ack = ack_payload("zh", url);
    json_t *o = rendered(arena, ack, url);
    assert_string_equal(json_string_value(json_object_get(o, "ticket")), "SR-000123");
    assert_string_equal(json_string_value(json_object_get(o, "language")), "zh");
    const char *msg = json_string_value(json_object_get(o, "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "SR-000123"));
    assert_non_null(strstr(msg, "工单号"));
    assert_non_null(strstr(msg, "24 小时"));
    assert_null(strstr(msg, "ticket number"));
    json_decref(o);
    json_decref(ack);
}

#define A(fn) cmocka_unit_test_setup_teardown(fn, harness_setup_arena, harness_teardown_arena)

static const struct CMUnitTest fixed_tests[] = {
    A(test_valid_full),
    A(test_valid_minimal_phone),
    A(test_valid_chinese),
    A(test_valid_explicit_nulls),
    A(test_content_type_with_parameters),
    A(test_malformed_json_says_where),
    A(test_length_limits),
    A(test_raw_nul_byte_rejected),
    A(test_empty_request_body),
    A(test_customer_null_is_missing),
    A(test_respond_created),
    A(test_respond_duplicate),
    A(test_respond_db_unavailable),
    A(test_respond_busy_is_retryable),
    A(test_ack_without_reply_handle),
    A(test_ack_english),
    A(test_ack_chinese),
};

#define N_FIXED (sizeof(fixed_tests) / sizeof(fixed_tests[0]))

int main(void)
{
    /* One named test per bad input, so a failure says which one. */
    struct CMUnitTest tests[N_FIXED + N_BAD];
    memcpy(tests, fixed_tests, sizeof(fixed_tests));
    for (size_t i = 0; i < N_BAD; i++)
        tests[N_FIXED + i] = (struct CMUnitTest){.name = bad_cases[i].name,
                                                 .test_func = test_bad_input,
                                                 .setup_func = setup_bad,
                                                 .teardown_func = teardown_bad,
                                                 .initial_state = (void *)(uintptr_t)&bad_cases[i]};
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
