/*
 * The phone parser tests' shared parts (phone_routes.h). The vectors are
 * data computed outside this code; everything else is what each of those
 * tests would otherwise write again: a request the way the core builds it,
 * and the checks that say where in the calling test a reply went wrong.
 */
#include "phone_routes.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "phone.h"

const char twilio_doc_sig[] = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
const char twilio_form_sig[] = "Or7Ek0l+SMVHVD+aSKz833LGLYI=";
const char twilio_url_only_sig[] = "ftZIFIr5Sg7rTur7rL5ib53O5Xg=";
const char twilio_json_sha256[] =
    "df4398c47efe37b1a11561d9ee646f9d1a3f254464d4d533eb2d7a1b7d447182";
const char twilio_json_sig[] = "0fsi4o+BrEt8gSEnydzqKLeG2cU=";
const char empty_sha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const char native_sig[] = "08b2a803badb7f2325c702e99fc2c31765f776e8701d3b5eddbc128a3d09abbb";
const char native_old_sig[] = "50f10fbd8e3efd1b91571ffa13a790e3b5ec574d05effe32e42d2a4448715deb";

struct gw_config *route_cfg;

static const char config_json[] = "{\"public_url\": \"" PUBLIC_URL "\","
                                  " \"channels\": {\"phone\": {\"default_country_code\": \"86\","
                                  " \"callback_within_minutes\": 45}}}";

/* Every variable the channel reads; cleared around each test so none leaks into the next. */
static const char *const phone_env[] = {
    "INTAKE_TWILIO_AUTH_TOKEN", "INTAKE_CTI_TOKEN",   "INTAKE_WEBHOOK_SECRET", "INTAKE_SMS_URL",
    "INTAKE_SMS_FROM",          "INTAKE_SMS_ACCOUNT", "INTAKE_SMS_TOKEN",      NULL};

static void clear_env(void)
{
    for (const char *const *e = phone_env; *e; e++)
        unsetenv(*e);
}

struct gw_config *route_load_config(const char *json)
{
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text(json, &cfg, &pr);
    for (size_t i = 0; i < pr.n; i++)
        print_error("config: %s\n", pr.items[i]);
    gw_problems_clear(&pr);
    return err == GW_OK ? cfg : NULL;
}

int route_group_setup(void **state)
{
    (void)state;
    unsetenv("INTAKE_PUBLIC_URL");
    clear_env();
    route_cfg = route_load_config(config_json);
    return route_cfg ? 0 : -1;
}

int route_group_teardown(void **state)
{
    (void)state;
    gw_config_free(route_cfg);
    return 0;
}

int route_setup(void **state)
{
    clear_env();
    *state = gw_arena_create(4096);
    return *state ? 0 : -1;
}

int route_teardown(void **state)
{
    clear_env();
    gw_arena_destroy(*state);
    return 0;
}

void route_assert_str_at(const char *got, const char *want, const char *file, int line)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want))) {
        print_error("%s:%d: got %s%s%s, want %s%s%s\n", file, line, got ? "\"" : "",
                    got ? got : "NULL", got ? "\"" : "", want ? "\"" : "", want ? want : "NULL",
                    want ? "\"" : "");
        fail();
    }
}

void route_assert_contains_at(const char *hay, const char *needle, const char *file, int line)
{
    if (!hay || !strstr(hay, needle)) {
        print_error("%s:%d: \"%s\" does not contain \"%s\"\n", file, line, hay ? hay : "NULL",
                    needle);
        fail();
    }
}

char *route_form_encode(const struct form_field *f, size_t n)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += 3 * (strlen(f[i].name) + strlen(f[i].value)) + 2;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[o++] = '&';
        for (int part = 0; part < 2; part++) {
            if (part)
                out[o++] = '=';
            for (const unsigned char *p = (const unsigned char *)(part ? f[i].value : f[i].name);
                 *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
                    out[o++] = (char)*p;
                } else if (*p == ' ') {
                    out[o++] = '+';
                } else {
                    out[o++] = '%';
                    out[o++] = hexd[*p >> 4];
                    out[o++] = hexd[*p & 15];
                }
            }
        }
    }
    out[o] = '\0';
    return out;
}

static const char *lookup_header(const struct gw_http_request *req, const char *name)
{
    const struct route_request *r = req->header_ctx;
    if (!strcmp(name, "x-twilio-signature"))
        return r->twilio_sig;
    if (!strcmp(name, "x-intake-signature"))
        return r->intake_sig;
    if (!strcmp(name, "content-type"))
        return r->content_type;
    return NULL;
}

enum gw_err route_run(enum gw_err (*parse)(const struct gw_http_request *, struct gw_arena *,
                                           struct gw_contact *, struct gw_http_reply *),
                      const struct route_request *r, struct gw_arena *arena, struct gw_contact *c,
                      struct gw_http_reply *reply)
{
    size_t len = r->body ? strlen(r->body) : 0;
    unsigned char *copy = NULL;
    if (r->body) {
        copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, r->body, len);
    }
    struct gw_http_request req = {
        .method = "POST",
        .path = r->path,
        .query = r->query,
        .content_type = r->content_type,
        .body = copy,
        .body_len = len,
        .header = lookup_header,
        .header_ctx = (void *)(uintptr_t)r,
        .config = r->cfg ? r->cfg : route_cfg,
    };
    memset(reply, 0, sizeof(*reply));
    /* Leftovers from an earlier contact must not survive into this one. */
    memset(c, 0x5A, sizeof(*c));
    enum gw_err err = parse(&req, arena, c, reply);
    free(copy);
    return err;
}

void route_assert_rejected_at(enum gw_err err, const struct gw_http_reply *reply, int status,
                              const char *field, const char *file, int line)
{
    if (err != GW_ERR_INVALID || reply->status != status) {
        print_error("%s:%d: want GW_ERR_INVALID and %d, got err %d and %d: %s\n", file, line,
                    status, (int)err, reply->status, reply->body ? reply->body : "(no body)");
        fail();
    }
    route_assert_str_at(reply->content_type, "application/json", file, line);
    assert_non_null(reply->body);
    assert_int_equal(strlen(reply->body), reply->body_len);
    json_error_t jerr;
    json_t *o = json_loadb(reply->body, reply->body_len, 0, &jerr);
    if (!json_is_object(o)) {
        print_error("%s:%d: reply is not a JSON object: %s\n", file, line, reply->body);
        fail();
    }
    const char *msg = json_string_value(json_object_get(o, "error"));
    if (!msg || !*msg) {
        print_error("%s:%d: no error message: %s\n", file, line, reply->body);
        json_decref(o);
        fail();
    }
    json_t *f = json_object_get(o, "field");
    if ((field == NULL) != (f == NULL) ||
        (field && (!json_is_string(f) || strcmp(json_string_value(f), field)))) {
        print_error("%s:%d: want field %s: %s\n", file, line, field ? field : "(none)",
                    reply->body);
        json_decref(o);
        fail();
    }
    json_decref(o);
}

const char *route_error(struct gw_arena *arena, const struct gw_http_reply *reply)
{
    json_error_t jerr;
    json_t *o = json_loadb(reply->body, reply->body_len, 0, &jerr);
    assert_non_null(o);
    const char *m = gw_arena_strdup(arena, json_string_value(json_object_get(o, "error")));
    json_decref(o);
    return m;
}

void route_assert_parsed_at(enum gw_err err, const struct gw_http_reply *reply, const char *file,
                            int line)
{
    if (err != GW_OK) {
        print_error("%s:%d: rejected with %d: %s\n", file, line, reply->status,
                    reply->body ? reply->body : "(no body)");
        fail();
    }
}

void route_assert_twiml_nothing(enum gw_err err, const struct gw_http_reply *reply)
{
    assert_int_equal(err, GW_ERR_INVALID);
    assert_int_equal(reply->status, 200);
    assert_str(reply->content_type, "text/xml");
    assert_non_null(reply->body);
    assert_int_equal(strlen(reply->body), reply->body_len);
    assert_contains(reply->body, "<Response/>");
}

char *route_fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "phone/%s", name);
    size_t len;
    char *text = (char *)harness_read_fixture(rel, &len);
    assert_int_equal(strlen(text), len); /* no NUL inside */
    return text;
}

enum gw_err route_twilio_post(struct gw_arena *arena, const struct form_field *f, size_t n,
                              struct gw_contact *c, struct gw_http_reply *reply)
{
    char *body = route_form_encode(f, n);
    char sig[SIGNER_TWILIO_LEN];
    signer_twilio(TWILIO_TOKEN, TWILIO_URL, f, n, sig);
    struct route_request r = {
        .path = TWILIO_PATH, .content_type = FORM_CT, .body = body, .twilio_sig = sig};
    enum gw_err err = route_run(phone_twilio_parse, &r, arena, c, reply);
    free(body);
    return err;
}

enum gw_err route_cti_post(struct gw_arena *arena, const char *token, const char *content_type,
                           const char *body, struct gw_contact *c, struct gw_http_reply *reply)
{
    struct route_request r = {.path = gw_arena_printf(arena, "/v1/phone/cti/%s", token),
                              .content_type = content_type,
                              .body = body};
    return route_run(phone_cti_parse, &r, arena, c, reply);
}

enum gw_err route_native_post(struct gw_arena *arena, const char *body, struct gw_contact *c,
                              struct gw_http_reply *reply)
{
    char sig[SIGNER_INTAKE_LEN];
    signer_intake(WEBHOOK_SECRET, (long)time(NULL), body, strlen(body), sig);
    struct route_request r = {
        .path = "/v1/phone/events", .content_type = JSON_CT, .body = body, .intake_sig = sig};
    return route_run(phone_native_parse, &r, arena, c, reply);
}
