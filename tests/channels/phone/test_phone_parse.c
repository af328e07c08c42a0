/*
 * The phone channel's pure functions, no server and no database: the three
 * webhook parsers (Twilio, generic CTI, our signed JSON) through a
 * struct gw_http_request as the core builds it, the signature checks, the
 * form and time readers, number normalization, the SMS acknowledgement and
 * the settings check.
 *
 * The signature vectors below were computed with the openssl command line,
 * not with the code under test; tests/fixtures/phone/README.md has the
 * commands. Requests the table-driven tests send are signed by this file's
 * own signer (OpenSSL's one-shot HMAC(), not the channel's EVP_MAC code),
 * which is itself checked against those vectors first.
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "harness.h"

#include "gw_arena.h"
#include "gw_channel.h"
#include "gw_config.h"
#include "gw_contact.h"
#include "gw_intake.h"
#include "gw_validate.h"
#include "phone.h"

extern const struct gw_channel gw_channel_phone;

#define PUBLIC_URL     "https://help.example.com"
#define TWILIO_PATH    "/v1/phone/twilio"
#define TWILIO_URL     PUBLIC_URL TWILIO_PATH
#define TWILIO_TOKEN   "twilio-test-token-3f9c"
#define CTI_TOKEN      "cti-test-token-5a2b"
#define WEBHOOK_SECRET "whsec-test-7d1e0b"
#define OLD_SECRET     "whsec-old-secret"
#define FORM_CT        "application/x-www-form-urlencoded"
#define JSON_CT        "application/json"

/* 2026-11-21T10:00:00Z (date -u -d 2026-11-21T10:00:00Z +%s), a Saturday. */
#define T_2026_11_21 1795255200L

/* ---- known-good vectors from openssl (tests/fixtures/phone/README.md) ---- */

/* Twilio's documented example: token 12345, https://mycompany.com/myapp.php?foo=1&bar=2. */
static const char twilio_doc_sig[] = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
/* twilio_status_completed.form posted to TWILIO_URL, keyed with TWILIO_TOKEN. */
static const char twilio_form_sig[] = "Or7Ek0l+SMVHVD+aSKz833LGLYI=";
/* TWILIO_URL alone (no fields), keyed with TWILIO_TOKEN. */
static const char twilio_url_only_sig[] = "ftZIFIr5Sg7rTur7rL5ib53O5Xg=";
/* sha256 of twilio_status_no_answer.json, and TWILIO_URL?bodySHA256=<it> signed. */
static const char twilio_json_sha256[] =
    "df4398c47efe37b1a11561d9ee646f9d1a3f254464d4d533eb2d7a1b7d447182";
static const char twilio_json_sig[] = "0fsi4o+BrEt8gSEnydzqKLeG2cU=";
/* sha256 of nothing. */
static const char empty_sha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/* HMAC-SHA256 of "1795255200." + native_missed.json, with WEBHOOK_SECRET and OLD_SECRET. */
static const char native_sig[] = "08b2a803badb7f2325c702e99fc2c31765f776e8701d3b5eddbc128a3d09abbb";
static const char native_old_sig[] =
    "50f10fbd8e3efd1b91571ffa13a790e3b5ec574d05effe32e42d2a4448715deb";

/* ---- set-up ---- */

struct fixture {
    struct gw_config *cfg;
};

static struct fixture fx;

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

static struct gw_config *load_config(const char *json)
{
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text(json, &cfg, &pr);
    for (size_t i = 0; i < pr.n; i++)
        print_error("config: %s\n", pr.items[i]);
    gw_problems_clear(&pr);
    return err == GW_OK ? cfg : NULL;
}

static int group_setup(void **state)
{
    (void)state;
    unsetenv("INTAKE_PUBLIC_URL");
    clear_env();
    fx.cfg = load_config(config_json);
    return fx.cfg ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    gw_config_free(fx.cfg);
    return 0;
}

static int setup(void **state)
{
    clear_env();
    *state = gw_arena_create(4096);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    clear_env();
    gw_arena_destroy(*state);
    return 0;
}

/* ---- helpers ---- */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Equal strings, or both NULL; says where the caller was. */
#define assert_str(got, want) assert_str_at((got), (want), __FILE__, __LINE__)
static void assert_str_at(const char *got, const char *want, const char *file, int line)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want))) {
        print_error("%s:%d: got %s%s%s, want %s%s%s\n", file, line, got ? "\"" : "",
                    got ? got : "NULL", got ? "\"" : "", want ? "\"" : "", want ? want : "NULL",
                    want ? "\"" : "");
        fail();
    }
}

#define assert_contains(hay, needle) assert_contains_at((hay), (needle), __FILE__, __LINE__)
static void assert_contains_at(const char *hay, const char *needle, const char *file, int line)
{
    if (!hay || !strstr(hay, needle)) {
        print_error("%s:%d: \"%s\" does not contain \"%s\"\n", file, line, hay ? hay : "NULL",
                    needle);
        fail();
    }
}

struct kv {
    const char *name;
    const char *value;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* application/x-www-form-urlencoded, written here (not by curl); malloc'd. */
static char *form_encode(const struct kv *f, size_t n)
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

/* This file's Twilio signer: base64 HMAC-SHA1 of url + sorted name/value pairs. */
static void sign_twilio(const char *token, const char *url, const struct kv *f, size_t n,
                        char out[64])
{
    struct kv *sorted = malloc((n ? n : 1) * sizeof(*sorted));
    assert_non_null(sorted);
    if (n)
        memcpy(sorted, f, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), kv_cmp);
    size_t cap = strlen(url) + 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(f[i].name) + strlen(f[i].value);
    char *msg = malloc(cap);
    assert_non_null(msg);
    strcpy(msg, url);
    for (size_t i = 0; i < n; i++) {
        strcat(msg, sorted[i].name);
        strcat(msg, sorted[i].value);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(EVP_sha1(), token, (int)strlen(token), (const unsigned char *)msg,
                         strlen(msg), mac, &mac_len));
    assert_int_equal(mac_len, 20);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
    free(msg);
    free(sorted);
}

/* This file's X-Intake-Signature: "t=<t>,v1=<hex HMAC-SHA256 of "t.body">". */
static void sign_native(const char *secret, long t, const char *body, char *out, size_t cap)
{
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%ld.", t);
    size_t len = strlen(prefix) + strlen(body);
    char *msg = malloc(len + 1);
    assert_non_null(msg);
    snprintf(msg, len + 1, "%s%s", prefix, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, len,
                         mac, &mac_len));
    assert_int_equal(mac_len, 32);
    char hex[65];
    for (unsigned i = 0; i < mac_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(out, cap, "t=%ld,v1=%s", t, hex);
    free(msg);
}

/* A request as the core would hand it over; body NULL is an empty POST, as the server sends. */
struct request {
    const char *path;
    const char *query;
    const char *content_type;
    const char *body;
    const char *twilio_sig;
    const char *intake_sig;
    const struct gw_config *cfg; /* NULL: the group's */
};

static const char *lookup_header(const struct gw_http_request *req, const char *name)
{
    const struct request *r = req->header_ctx;
    if (!strcmp(name, "x-twilio-signature"))
        return r->twilio_sig;
    if (!strcmp(name, "x-intake-signature"))
        return r->intake_sig;
    if (!strcmp(name, "content-type"))
        return r->content_type;
    return NULL;
}

/*
 * Runs a route's parser on a malloc'd copy of the body, freed before
 * returning, so a contact left pointing into the request shows up under ASan.
 */
static enum gw_err run(enum gw_err (*parse)(const struct gw_http_request *, struct gw_arena *,
                                            struct gw_contact *, struct gw_http_reply *),
                       const struct request *r, struct gw_arena *arena, struct gw_contact *c,
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
        .config = r->cfg ? r->cfg : fx.cfg,
    };
    memset(reply, 0, sizeof(*reply));
    /* Leftovers from an earlier contact must not survive into this one. */
    memset(c, 0x5A, sizeof(*c));
    enum gw_err err = parse(&req, arena, c, reply);
    free(copy);
    return err;
}

/* A 4xx with the one error shape: {"error": non-empty, "field": field or absent}. */
#define assert_rejected(err, reply, status, field)                                                 \
    assert_rejected_at((err), (reply), (status), (field), __FILE__, __LINE__)
static void assert_rejected_at(enum gw_err err, const struct gw_http_reply *reply, int status,
                               const char *field, const char *file, int line)
{
    if (err != GW_ERR_INVALID || reply->status != status) {
        print_error("%s:%d: want GW_ERR_INVALID and %d, got err %d and %d: %s\n", file, line,
                    status, (int)err, reply->status, reply->body ? reply->body : "(no body)");
        fail();
    }
    assert_str_at(reply->content_type, "application/json", file, line);
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

/* The error message of a rejection, arena copy. */
static const char *reject_message(struct gw_arena *arena, const struct gw_http_reply *reply)
{
    json_error_t jerr;
    json_t *o = json_loadb(reply->body, reply->body_len, 0, &jerr);
    assert_non_null(o);
    const char *m = gw_arena_strdup(arena, json_string_value(json_object_get(o, "error")));
    json_decref(o);
    return m;
}

/* Parsed with GW_OK, or the reply says why not. */
#define assert_parsed(err, reply) assert_parsed_at((err), (reply), __FILE__, __LINE__)
static void assert_parsed_at(enum gw_err err, const struct gw_http_reply *reply, const char *file,
                             int line)
{
    if (err != GW_OK) {
        print_error("%s:%d: rejected with %d: %s\n", file, line, reply->status,
                    reply->body ? reply->body : "(no body)");
        fail();
    }
}

/* The 200 Twilio gets for a callback with nothing to keep: not registered. */
static void assert_twiml_nothing(enum gw_err err, const struct gw_http_reply *reply)
{
    assert_int_equal(err, GW_ERR_INVALID);
    assert_int_equal(reply->status, 200);
    assert_str(reply->content_type, "text/xml");
    assert_non_null(reply->body);
    assert_int_equal(strlen(reply->body), reply->body_len);
    assert_contains(reply->body, "<Response/>");
}

static char *fixture_text(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "phone/%s", name);
    size_t len;
    char *text = (char *)harness_read_fixture(rel, &len);
    assert_int_equal(strlen(text), len); /* no NUL inside */
    return text;
}

/* A form POST to the Twilio route, signed by this file with TWILIO_TOKEN. */
static enum gw_err twilio_post(struct gw_arena *arena, const struct kv *f, size_t n,
                               struct gw_contact *c, struct gw_http_reply *reply)
{
    char *body = form_encode(f, n);
    char sig[64];
    sign_twilio(TWILIO_TOKEN, TWILIO_URL, f, n, sig);
    struct request r = {
        .path = TWILIO_PATH, .content_type = FORM_CT, .body = body, .twilio_sig = sig};
    enum gw_err err = run(phone_twilio_parse, &r, arena, c, reply);
    free(body);
    return err;
}

static enum gw_err cti_post(struct gw_arena *arena, const char *token, const char *content_type,
                            const char *body, struct gw_contact *c, struct gw_http_reply *reply)
{
    struct request r = {.path = gw_arena_printf(arena, "/v1/phone/cti/%s", token),
                        .content_type = content_type,
                        .body = body};
    return run(phone_cti_parse, &r, arena, c, reply);
}

/* A native event signed now with WEBHOOK_SECRET. */
static enum gw_err native_post(struct gw_arena *arena, const char *body, struct gw_contact *c,
                               struct gw_http_reply *reply)
{
    char sig[128];
    sign_native(WEBHOOK_SECRET, (long)time(NULL), body, sig, sizeof(sig));
    struct request r = {
        .path = "/v1/phone/events", .content_type = JSON_CT, .body = body, .intake_sig = sig};
    return run(phone_native_parse, &r, arena, c, reply);
}

/* ======================= signatures ======================= */

static void test_own_signers_match_openssl(void **state)
{
    (void)state;
    /* The signer the route tests use must agree with the openssl vectors first. */
    const struct kv doc[] = {{"To", "+18005551212"},
                             {"CallSid", "CA1234567890ABCDE"},
                             {"Digits", "1234"},
                             {"From", "+12349013030"},
                             {"Caller", "+12349013030"}};
    char sig[64];
    sign_twilio("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", doc, N(doc), sig);
    assert_str(sig, twilio_doc_sig);
    sign_twilio(TWILIO_TOKEN, TWILIO_URL, NULL, 0, sig);
    assert_str(sig, twilio_url_only_sig);

    char *body = fixture_text("native_missed.json");
    char header[128];
    sign_native(WEBHOOK_SECRET, T_2026_11_21, body, header, sizeof(header));
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
    char *body = fixture_text("twilio_status_completed.form");
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
    char *body = fixture_text("twilio_status_no_answer.json");
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
    char *body = fixture_text("native_missed.json");
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
    char *body = fixture_text("native_missed.json");
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
    char *body = fixture_text("native_missed.json");
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
    char *body = fixture_text("native_missed.json");
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

/* ======================= Twilio route ======================= */

static void test_twilio_fixture_request(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = fixture_text("twilio_status_completed.form");
    struct request r = {
        .path = TWILIO_PATH, .content_type = FORM_CT, .body = body, .twilio_sig = twilio_form_sig};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(run(phone_twilio_parse, &r, arena, &c, &reply), &reply);
    free(body);
    assert_str(c.channel, "phone");
    assert_str(c.idempotency_key,
               "phone:twilio:CA11111111111111111111111111111111:status:completed");
    assert_str(c.external_ref, "call:twilio:CA11111111111111111111111111111111");
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(c.sender.name, "Zhang Wei");
    assert_int_equal(c.received_at, T_2026_11_21);
    assert_int_equal(c.respond_within_s, 0);
    assert_non_null(c.subject);
    assert_non_null(c.body);
    assert_non_null(c.call);
    assert_str(c.call->provider, "twilio");
    assert_str(c.call->call_id, "CA11111111111111111111111111111111");
    assert_str(c.call->kind, "ended");
    assert_null(c.call->cause);
    assert_str(c.call->direction, "in");
    assert_str(c.call->from, "+8613800138000");
    assert_str(c.call->to, "+861088886666");
    assert_int_equal(c.call->duration_s, 75);
    assert_int_equal(c.call->at, T_2026_11_21);

    /* Content-Type with a charset parameter is the same form. */
    body = fixture_text("twilio_status_completed.form");
    r.body = body;
    r.content_type = FORM_CT "; charset=utf-8";
    assert_parsed(run(phone_twilio_parse, &r, arena, &c, &reply), &reply);
    free(body);
}

/* The URL signed is the configured public_url (a trailing '/' aside) plus the path and query. */
static void test_twilio_public_url(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    struct gw_config *slash = load_config("{\"public_url\": \"" PUBLIC_URL "/\"}");
    struct gw_config *other = load_config("{\"public_url\": \"https://other.example.com\"}");
    assert_non_null(slash);
    assert_non_null(other);
    char *body = fixture_text("twilio_status_completed.form");
    struct request r = {.path = TWILIO_PATH,
                        .content_type = FORM_CT,
                        .body = body,
                        .twilio_sig = twilio_form_sig,
                        .cfg = slash};
    struct gw_contact c;
    struct gw_http_reply reply;
    enum gw_err with_slash = run(phone_twilio_parse, &r, arena, &c, &reply);
    r.cfg = other;
    enum gw_err other_host = run(phone_twilio_parse, &r, arena, &c, &reply);
    int other_host_status = reply.status;
    gw_config_free(slash);
    gw_config_free(other);
    assert_int_equal(with_slash, GW_OK);
    assert_int_equal(other_host, GW_ERR_INVALID);
    assert_int_equal(other_host_status, 403);

    /* A status callback URL with a query: the query is part of what Twilio signed. */
    const struct kv f[] = {{"CallSid", "CADDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"},
                           {"From", "+8613800138000"},
                           {"CallStatus", "ringing"}};
    char *form = form_encode(f, N(f));
    char sig[64];
    sign_twilio(TWILIO_TOKEN, TWILIO_URL "?tenant=7", f, N(f), sig);
    struct request q = {.path = TWILIO_PATH,
                        .query = "tenant=7",
                        .content_type = FORM_CT,
                        .body = form,
                        .twilio_sig = sig};
    enum gw_err with_query = run(phone_twilio_parse, &q, arena, &c, &reply);
    q.query = "tenant=8";
    enum gw_err other_query = run(phone_twilio_parse, &q, arena, &c, &reply);
    /* Escaped in the URL Twilio signed, decoded by the time it reaches the channel. */
    sign_twilio(TWILIO_TOKEN, TWILIO_URL "?site=a%2Fb%20c%E4%B8%AD&tenant=7", f, N(f), sig);
    q.query = "site=a/b c\xe4\xb8\xad&tenant=7";
    enum gw_err escaped = run(phone_twilio_parse, &q, arena, &c, &reply);
    q.query = "site=a/b d\xe4\xb8\xad&tenant=7";
    enum gw_err escaped_other = run(phone_twilio_parse, &q, arena, &c, &reply);
    free(form);
    free(body);
    assert_int_equal(with_query, GW_OK);
    assert_rejected(other_query, &reply, 403, NULL);
    assert_int_equal(escaped, GW_OK);
    assert_int_equal(escaped_other, GW_ERR_INVALID);
}

static void test_twilio_call_statuses(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    static const struct {
        const char *status, *kind, *cause;
    } cases[] = {
        {"queued", "ringing", NULL},        {"initiated", "ringing", NULL},
        {"ringing", "ringing", NULL},       {"in-progress", "answered", NULL},
        {"answered", "answered", NULL},     {"completed", "ended", NULL},
        {"busy", "missed", "busy"},         {"no-answer", "missed", "no-answer"},
        {"canceled", "missed", "canceled"}, {"failed", "missed", "failed"},
    };
    const char *keys[N(cases)];
    for (size_t i = 0; i < N(cases); i++) {
        const struct kv f[] = {{"CallSid", "CA33333333333333333333333333333333"},
                               {"From", "+8613800138000"},
                               {"To", "+861088886666"},
                               {"Direction", "inbound"},
                               {"CallStatus", cases[i].status}};
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  CallStatus=%s\n", cases[i].status);
        assert_parsed(twilio_post(arena, f, N(f), &c, &reply), &reply);
        assert_non_null(c.call);
        assert_str(c.call->kind, cases[i].kind);
        assert_str(c.call->cause, cases[i].cause);
        assert_str(c.call->direction, "in");
        assert_str(c.sender.phone, "+8613800138000");
        /* A missed call is a callback due in callback_within_minutes (45). */
        assert_int_equal(c.respond_within_s, cases[i].cause ? 45 * 60 : 0);
        keys[i] = c.idempotency_key;
        assert_str(keys[i], gw_arena_printf(
                                arena, "phone:twilio:CA33333333333333333333333333333333:status:%s",
                                cases[i].status));
    }
    for (size_t i = 0; i < N(cases); i++)
        for (size_t j = i + 1; j < N(cases); j++)
            assert_true(strcmp(keys[i], keys[j]) != 0);
}

static void test_twilio_replay_same_key(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const struct kv f[] = {{"CallSid", "CA44444444444444444444444444444444"},
                           {"From", "+8613800138000"},
                           {"To", "+861088886666"},
                           {"CallStatus", "busy"},
                           {"SequenceNumber", "2"}};
    struct gw_contact c1, c2;
    struct gw_http_reply reply;
    assert_parsed(twilio_post(arena, f, N(f), &c1, &reply), &reply);
    assert_parsed(twilio_post(arena, f, N(f), &c2, &reply), &reply);
    assert_non_null(c1.idempotency_key);
    assert_str(c1.idempotency_key, c2.idempotency_key);
    assert_str(c1.external_ref, c2.external_ref);
    /* Another call's same status is another event. */
    const struct kv g[] = {{"CallSid", "CA55555555555555555555555555555555"},
                           {"From", "+8613800138000"},
                           {"CallStatus", "busy"}};
    assert_parsed(twilio_post(arena, g, N(g), &c2, &reply), &reply);
    assert_true(strcmp(c1.idempotency_key, c2.idempotency_key) != 0);
}

static void test_twilio_recording_callback(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const char *url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1";
    const struct kv done[] = {{"AccountSid", "AC00000000000000000000000000000001"},
                              {"CallSid", "CA66666666666666666666666666666666"},
                              {"RecordingSid", "RE66666666666666666666666666666666"},
                              {"RecordingUrl", url},
                              {"RecordingDuration", "30"},
                              {"RecordingStatus", "completed"},
                              {"RecordingChannels", "1"},
                              {"RecordingSource", "RecordVerb"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(twilio_post(arena, done, N(done), &c, &reply), &reply);
    assert_str(c.call->kind, "recording");
    assert_str(c.call->recording_url, url);
    assert_int_equal(c.call->duration_s, 30);
    assert_null(c.call->transcript);
    assert_null(c.sender.phone);
    assert_str(c.idempotency_key, "phone:twilio:CA66666666666666666666666666666666:recording:"
                                  "RE66666666666666666666666666666666");
    assert_contains(c.body, url);

    /* Still being recorded: a 200 for Twilio, nothing registered. */
    const struct kv busy[] = {{"CallSid", "CA66666666666666666666666666666666"},
                              {"RecordingSid", "RE66666666666666666666666666666666"},
                              {"RecordingUrl", url},
                              {"RecordingStatus", "in-progress"}};
    assert_twiml_nothing(twilio_post(arena, busy, N(busy), &c, &reply), &reply);
    const struct kv absent[] = {{"CallSid", "CA66666666666666666666666666666666"},
                                {"RecordingSid", "RE66666666666666666666666666666666"},
                                {"RecordingStatus", "absent"}};
    assert_twiml_nothing(twilio_post(arena, absent, N(absent), &c, &reply), &reply);

    /* Completed without a URL, or with a duration that is not one. */
    const struct kv no_url[] = {{"CallSid", "CA66666666666666666666666666666666"},
                                {"RecordingSid", "RE66666666666666666666666666666666"},
                                {"RecordingStatus", "completed"}};
    assert_rejected(twilio_post(arena, no_url, N(no_url), &c, &reply), &reply, 422, "RecordingUrl");
    const struct kv bad_dur[] = {{"CallSid", "CA66666666666666666666666666666666"},
                                 {"RecordingSid", "RE66666666666666666666666666666666"},
                                 {"RecordingUrl", url},
                                 {"RecordingDuration", "thirty"}};
    assert_rejected(twilio_post(arena, bad_dur, N(bad_dur), &c, &reply), &reply, 422,
                    "RecordingDuration");
}

static void test_twilio_transcription_callback(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const char *text = "Hello, please call me back about order 1234.";
    const struct kv done[] = {{"CallSid", "CA77777777777777777777777777777777"},
                              {"TranscriptionSid", "TR77777777777777777777777777777777"},
                              {"TranscriptionText", text},
                              {"TranscriptionStatus", "completed"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(twilio_post(arena, done, N(done), &c, &reply), &reply);
    assert_str(c.call->kind, "transcript");
    assert_str(c.call->transcript, text);
    assert_str(c.idempotency_key, "phone:twilio:CA77777777777777777777777777777777:transcript:"
                                  "TR77777777777777777777777777777777");
    assert_contains(c.body, text);

    const struct kv failed[] = {{"CallSid", "CA77777777777777777777777777777777"},
                                {"TranscriptionSid", "TR77777777777777777777777777777777"},
                                {"TranscriptionText", ""},
                                {"TranscriptionStatus", "failed"}};
    assert_twiml_nothing(twilio_post(arena, failed, N(failed), &c, &reply), &reply);
}

/*
 * Twilio's transcribeCallback also carries the RecordingSid and RecordingUrl
 * of the recording transcribed (and no RecordingStatus); it is still a
 * transcript, not a second copy of the recording.
 */
static void test_twilio_transcription_with_recording_fields(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const char *text = "This is Li Na, my router keeps dropping the connection.";
    const struct kv real[] = {
        {"AccountSid", "AC00000000000000000000000000000001"},
        {"CallSid", "CA88888888888888888888888888888888"},
        {"From", "+8613800138000"},
        {"To", "+861088886666"},
        {"CallStatus", "completed"},
        {"ApiVersion", "2010-04-01"},
        {"Direction", "inbound"},
        {"TranscriptionSid", "TR88888888888888888888888888888888"},
        {"TranscriptionText", text},
        {"TranscriptionStatus", "completed"},
        {"TranscriptionUrl", "https://api.twilio.com/2010-04-01/Accounts/AC1/Transcriptions/"
                             "TR88888888888888888888888888888888"},
        {"RecordingSid", "RE88888888888888888888888888888888"},
        {"RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/"
                         "RE88888888888888888888888888888888"},
    };
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(twilio_post(arena, real, N(real), &c, &reply), &reply);
    assert_str(c.call->kind, "transcript");
    assert_str(c.call->transcript, text);
    assert_contains(c.idempotency_key, ":transcript:TR88888888888888888888888888888888");
}

static void test_twilio_json_body(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = fixture_text("twilio_status_no_answer.json");
    struct request r = {.path = TWILIO_PATH,
                        .query = gw_arena_printf(arena, "bodySHA256=%s", twilio_json_sha256),
                        .content_type = JSON_CT,
                        .body = body,
                        .twilio_sig = twilio_json_sig};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(run(phone_twilio_parse, &r, arena, &c, &reply), &reply);
    assert_str(c.call->kind, "missed");
    assert_str(c.call->cause, "no-answer");
    assert_str(c.call->call_id, "CA22222222222222222222222222222222");
    assert_str(c.sender.phone, "+8613800138000");
    assert_int_equal(c.respond_within_s, 45 * 60);

    /* A hash that is not the body's, even when the URL carrying it is signed. */
    char wrong[65];
    memcpy(wrong, twilio_json_sha256, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    r.query = gw_arena_printf(arena, "bodySHA256=%s", wrong);
    char sig[64];
    sign_twilio(TWILIO_TOKEN, gw_arena_printf(arena, "%s?%s", TWILIO_URL, r.query), NULL, 0, sig);
    r.twilio_sig = sig;
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);

    /* No bodySHA256 at all. */
    r.query = NULL;
    r.twilio_sig = twilio_url_only_sig;
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);

    /* The right hash but the body changed after signing. */
    r.query = gw_arena_printf(arena, "bodySHA256=%s", twilio_json_sha256);
    r.twilio_sig = twilio_json_sig;
    *strstr(body, "no-answer") = 'N';
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    free(body);
}

static void test_twilio_signature_refused(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = fixture_text("twilio_status_completed.form");
    struct request r = {.path = TWILIO_PATH, .content_type = FORM_CT, .body = body};
    struct gw_contact c;
    struct gw_http_reply reply;

    /* Missing, empty. */
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    assert_contains(reject_message(arena, &reply), "X-Twilio-Signature");
    r.twilio_sig = "";
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* Someone else's token, and a valid signature for another URL. */
    r.twilio_sig = twilio_doc_sig;
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    r.twilio_sig = twilio_form_sig;
    r.path = "/v1/phone/twilio2";
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    r.path = TWILIO_PATH;
    /* A field changed after signing. */
    char *tampered = gw_arena_strdup(arena, body);
    *strstr(tampered, "CallDuration=75") = 'c';
    r.body = tampered;
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* A field added after signing. */
    r.body = gw_arena_printf(arena, "%s&Extra=1", body);
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* The right body and signature, once more, is fine (the refusals were not by accident). */
    r.body = body;
    assert_parsed(run(phone_twilio_parse, &r, arena, &c, &reply), &reply);

    /* Auth token unset: nothing verifies, 403 (not 500, not accepted). */
    unsetenv("INTAKE_TWILIO_AUTH_TOKEN");
    assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    assert_contains(reject_message(arena, &reply), "INTAKE_TWILIO_AUTH_TOKEN");
    free(body);
}

static void test_twilio_bad_fields(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;

    const struct kv unknown[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                 {"From", "+8613800138000"},
                                 {"CallStatus", "exploded"}};
    assert_rejected(twilio_post(arena, unknown, N(unknown), &c, &reply), &reply, 422, "CallStatus");
    const struct kv no_status[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                   {"From", "+8613800138000"}};
    assert_rejected(twilio_post(arena, no_status, N(no_status), &c, &reply), &reply, 422,
                    "CallStatus");
    const struct kv no_sid[] = {{"From", "+8613800138000"}, {"CallStatus", "ringing"}};
    assert_rejected(twilio_post(arena, no_sid, N(no_sid), &c, &reply), &reply, 422, "CallSid");
    const struct kv empty_sid[] = {
        {"CallSid", ""}, {"From", "+8613800138000"}, {"CallStatus", "ringing"}};
    assert_rejected(twilio_post(arena, empty_sid, N(empty_sid), &c, &reply), &reply, 422,
                    "CallSid");
    const struct kv bad_dur[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                 {"From", "+8613800138000"},
                                 {"CallStatus", "completed"},
                                 {"CallDuration", "-3"}};
    assert_rejected(twilio_post(arena, bad_dur, N(bad_dur), &c, &reply), &reply, 422,
                    "CallDuration");
    const struct kv bad_from[] = {{"CallSid", "CA99999999999999999999999999999999"},
                                  {"From", "+86 138 abc"},
                                  {"CallStatus", "ringing"}};
    assert_rejected(twilio_post(arena, bad_from, N(bad_from), &c, &reply), &reply, 422, "from");
}

static void test_twilio_malformed_body(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *const bad[] = {
        "CallSid=CA1&From=%ZZ8613800138000&CallStatus=ringing",
        "CallSid=CA1&From=%2&CallStatus=ringing",
        "CallSid=CA1&CallStatus=ringing&From=%",
        "CallSid=CA1&CallerName=%FF%FE&CallStatus=ringing",
        "CallSid=CA1&CallerName=a%00b&CallStatus=ringing",
    };
    for (size_t i = 0; i < N(bad); i++) {
        struct request r = {.path = TWILIO_PATH,
                            .content_type = FORM_CT,
                            .body = bad[i],
                            .twilio_sig = twilio_url_only_sig};
        print_message("  %s\n", bad[i]);
        assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 400, NULL);
    }
    struct request json = {.path = TWILIO_PATH,
                           .query = gw_arena_printf(arena, "bodySHA256=%s", twilio_json_sha256),
                           .content_type = JSON_CT,
                           .body = "{\"CallSid\": ",
                           .twilio_sig = twilio_json_sig};
    assert_rejected(run(phone_twilio_parse, &json, arena, &c, &reply), &reply, 400, NULL);

    /* An empty POST (the core passes a NULL body) is signed over the URL alone. */
    struct request empty = {
        .path = TWILIO_PATH, .content_type = FORM_CT, .twilio_sig = twilio_url_only_sig};
    assert_rejected(run(phone_twilio_parse, &empty, arena, &c, &reply), &reply, 422, "CallSid");
}

static void test_twilio_wrong_content_type(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    char *body = fixture_text("twilio_status_completed.form");
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *const types[] = {"text/plain", "multipart/form-data; boundary=x",
                                 "application/x-www-form-urlencodedX", NULL};
    for (size_t i = 0; i < N(types); i++) {
        struct request r = {.path = TWILIO_PATH,
                            .content_type = types[i],
                            .body = body,
                            .twilio_sig = twilio_form_sig};
        print_message("  Content-Type: %s\n", types[i] ? types[i] : "(none)");
        assert_rejected(run(phone_twilio_parse, &r, arena, &c, &reply), &reply, 415, NULL);
    }
    free(body);
}

static void test_twilio_outbound(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const struct kv f[] = {{"CallSid", "CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                           {"From", "+861088886666"},
                           {"To", "+8613800138000"},
                           {"Direction", "outbound-api"},
                           {"CallStatus", "completed"},
                           {"CallDuration", "125"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(twilio_post(arena, f, N(f), &c, &reply), &reply);
    assert_str(c.call->direction, "out");
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(c.call->from, "+861088886666");
    assert_str(c.call->to, "+8613800138000");
    assert_int_equal(c.call->duration_s, 125);
    assert_contains(c.subject, "+8613800138000");
    assert_contains(c.body, "2 min 5 s");

    /* A customer number that is not one is the To of an outbound call. */
    const struct kv g[] = {{"CallSid", "CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                           {"From", "+861088886666"},
                           {"To", "12ab"},
                           {"Direction", "outbound-dial"},
                           {"CallStatus", "ringing"}};
    assert_rejected(twilio_post(arena, g, N(g), &c, &reply), &reply, 422, "to");
}

static void test_twilio_caller_name_and_client(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    const struct kv named[] = {{"CallSid", "CABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"},
                               {"From", "+8613800138000"},
                               {"To", "+861088886666"},
                               {"CallerName", "Wang Fang"},
                               {"CallStatus", "ringing"}};
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(twilio_post(arena, named, N(named), &c, &reply), &reply);
    assert_str(c.sender.name, "Wang Fang");
    assert_contains(c.body, "Wang Fang");

    /* A Twilio Client (or SIP) caller has no number to call back, and that is not an error. */
    const char *const endpoints[] = {"client:alice", "sip:alice@example.com"};
    for (size_t i = 0; i < N(endpoints); i++) {
        const struct kv client[] = {{"CallSid", "CACCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"},
                                    {"From", endpoints[i]},
                                    {"To", "+861088886666"},
                                    {"CallStatus", "no-answer"}};
        assert_parsed(twilio_post(arena, client, N(client), &c, &reply), &reply);
        assert_null(c.sender.phone);
        assert_null(c.call->from);
        assert_str(c.call->to, "+861088886666");
        assert_str(c.call->kind, "missed");
    }
}

static void test_twilio_respond(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_intake_result res;
    memset(&res, 0, sizeof(res));
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    phone_twilio_respond(&res, arena, &reply);
    assert_int_equal(reply.status, 200);
    assert_str(reply.content_type, "text/xml");
    assert_contains(reply.body, "<Response/>");
    res.err = GW_ERR_DB_UNAVAILABLE;
    memset(&reply, 0, sizeof(reply));
    phone_twilio_respond(&res, arena, &reply);
    assert_int_equal(reply.status, 503);
    assert_true(reply.retry_after_s > 0);
}

/* ======================= CTI route ======================= */

static void test_cti_events(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    static const struct {
        const char *event, *cause, *kind;
    } cases[] = {
        {"newCall", NULL, "ringing"},          {"answer", NULL, "answered"},
        {"hangup", "normalClearing", "ended"}, {"hangup", "busy", "missed"},
        {"hangup", "cancel", "missed"},        {"hangup", "noAnswer", "missed"},
        {"hangup", "congestion", "missed"},    {"hangup", "notFound", "missed"},
        {"hangup", "forwarded", "forwarded"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *body = gw_arena_printf(
            arena, "event=%s&callId=pbx-%zu&from=%%2B8613800138000&to=8001&direction=in%s%s",
            cases[i].event, i, cases[i].cause ? "&cause=" : "",
            cases[i].cause ? cases[i].cause : "");
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  %s\n", body);
        assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT, body, &c, &reply), &reply);
        assert_str(c.channel, "phone");
        assert_str(c.call->provider, "cti");
        assert_str(c.call->kind, cases[i].kind);
        assert_str(c.call->cause, cases[i].cause);
        assert_str(c.call->direction, "in");
        assert_str(c.sender.phone, "+8613800138000");
        assert_str(c.call->call_id, gw_arena_printf(arena, "pbx-%zu", i));
        assert_str(c.idempotency_key,
                   gw_arena_printf(arena, "phone:cti:pbx-%zu:%s", i, cases[i].event));
        assert_int_equal(c.respond_within_s, !strcmp(cases[i].kind, "missed") ? 45 * 60 : 0);
    }
}

static void test_cti_rejections(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_rejected(cti_post(arena, CTI_TOKEN, FORM_CT,
                             "event=transfer&callId=p1&from=013800138000", &c, &reply),
                    &reply, 422, "event");
    assert_rejected(cti_post(arena, CTI_TOKEN, FORM_CT, "callId=p1&from=013800138000", &c, &reply),
                    &reply, 422, "event");
    assert_rejected(
        cti_post(arena, CTI_TOKEN, FORM_CT, "event=hangup&callId=p1&from=013800138000", &c, &reply),
        &reply, 422, "cause");
    assert_rejected(cti_post(arena, CTI_TOKEN, FORM_CT,
                             "event=hangup&cause=exploded&callId=p1&from=013800138000", &c, &reply),
                    &reply, 422, "cause");
    assert_rejected(cti_post(arena, CTI_TOKEN, FORM_CT,
                             "event=newCall&callId=p1&from=013800138000&direction=sideways", &c,
                             &reply),
                    &reply, 422, "direction");
    assert_rejected(
        cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&from=013800138000", &c, &reply), &reply,
        422, "callId");
    assert_rejected(
        cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=p1&from=12ab", &c, &reply),
        &reply, 422, "from");
    assert_rejected(
        cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=p1&from=%G0", &c, &reply), &reply,
        400, NULL);
    assert_rejected(cti_post(arena, CTI_TOKEN, "text/plain", "event=newCall&callId=p1", &c, &reply),
                    &reply, 415, NULL);
}

static void test_cti_token(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *body = "event=newCall&callId=p1&from=013800138000";
    /* Not configured: nothing is accepted. */
    assert_rejected(cti_post(arena, CTI_TOKEN, FORM_CT, body, &c, &reply), &reply, 403, NULL);
    assert_contains(reject_message(arena, &reply), "INTAKE_CTI_TOKEN");
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    const char *const wrong[] = {"cti-test-token-5a2c", "cti-test-token-5a2",
                                 "cti-test-token-5a2bb", "CTI-TEST-TOKEN-5A2B"};
    for (size_t i = 0; i < N(wrong); i++)
        assert_rejected(cti_post(arena, wrong[i], FORM_CT, body, &c, &reply), &reply, 403, NULL);
    /* The token is checked before the body is read: a bad body still gets 403. */
    assert_rejected(cti_post(arena, "nope", FORM_CT, "%%%", &c, &reply), &reply, 403, NULL);
    assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT, body, &c, &reply), &reply);
}

static void test_cti_json_body(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    const char *body =
        "{\"event\": \"hangup\", \"cause\": \"noAnswer\", \"callId\": \"pbx-json-1\","
        " \"from\": \"013800138000\", \"to\": \"8001\", \"direction\": \"in\","
        " \"user\": [\"alice\", \"bob\"], \"queue\": \"support\","
        " \"answeringNumber\": null, \"callerName\": \"Li Na\","
        " \"timestamp\": \"2026-11-21T18:00:00+08:00\"}";
    assert_parsed(cti_post(arena, CTI_TOKEN, JSON_CT, body, &c, &reply), &reply);
    assert_str(c.call->kind, "missed");
    assert_str(c.call->cause, "noAnswer");
    assert_str(c.call->call_id, "pbx-json-1");
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(c.sender.name, "Li Na");
    assert_int_equal(c.call->at, T_2026_11_21);
    assert_str(c.idempotency_key, "phone:cti:pbx-json-1:hangup");

    /* A numeric call id is its decimal text. */
    assert_parsed(
        cti_post(arena, CTI_TOKEN, JSON_CT,
                 "{\"event\": \"newCall\", \"callId\": 4711, \"from\": \"+8613800138000\"}", &c,
                 &reply),
        &reply);
    assert_str(c.call->call_id, "4711");
    /* Nested objects mean nothing to a call event. */
    assert_rejected(cti_post(arena, CTI_TOKEN, JSON_CT,
                             "{\"event\": \"newCall\", \"callId\": \"p\", \"from\": {\"n\": 1}}",
                             &c, &reply),
                    &reply, 400, NULL);
    assert_rejected(cti_post(arena, CTI_TOKEN, JSON_CT, "[\"newCall\"]", &c, &reply), &reply, 400,
                    NULL);
    assert_rejected(cti_post(arena, CTI_TOKEN, JSON_CT, "{\"event\": ", &c, &reply), &reply, 400,
                    NULL);
}

static void test_cti_repeated_user(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT,
                           "event=answer&callId=pbx-u&from=013800138000&user%5B%5D=alice"
                           "&user%5B%5D=bob&user[]=carol&queue=support&answeringNumber=8001",
                           &c, &reply),
                  &reply);
    assert_str(c.call->kind, "answered");
    assert_str(c.sender.phone, "+8613800138000");
}

static void test_cti_numbers(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_CTI_TOKEN", CTI_TOKEN, 1);
    struct gw_contact c;
    struct gw_http_reply reply;
    /* National with the trunk zero, default country 86. */
    assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT,
                           "event=newCall&callId=n1&from=013800138000&to=8001", &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+8613800138000");
    assert_str(c.call->from, "+8613800138000");
    assert_null(c.call->to); /* an extension is not a number; ours, so no error */
    /* Landline written with spaces. */
    assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=n2&from=010+8888+6666",
                           &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+861088886666");
    /* An unescaped '+' arrives as a leading space; the number stays international. */
    assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=n3&from=+8613800138000",
                           &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+8613800138000");
    assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT,
                           "event=newCall&callId=n4&from=+44+20+7946+0958", &c, &reply),
                  &reply);
    assert_str(c.sender.phone, "+442079460958");
    /* Not a number. */
    assert_rejected(
        cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=n5&from=12ab", &c, &reply),
        &reply, 422, "from");
    /* Outbound: the customer is "to". */
    assert_parsed(cti_post(arena, CTI_TOKEN, FORM_CT,
                           "event=newCall&callId=n6&direction=out&from=8001&to=013800138000", &c,
                           &reply),
                  &reply);
    assert_str(c.call->direction, "out");
    assert_str(c.sender.phone, "+8613800138000");
    assert_rejected(cti_post(arena, CTI_TOKEN, FORM_CT,
                             "event=newCall&callId=n7&direction=out&from=8001&to=12ab", &c, &reply),
                    &reply, 422, "to");
    /* Withheld. */
    assert_parsed(
        cti_post(arena, CTI_TOKEN, FORM_CT, "event=newCall&callId=n8&from=anonymous", &c, &reply),
        &reply);
    assert_null(c.sender.phone);
}

/* ======================= native route ======================= */

static void test_native_types(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    static const struct {
        const char *type;
        int respond_within_s;
    } cases[] = {
        {"ringing", 0}, {"answered", 0}, {"missed", 45 * 60}, {"ended", 0}, {"voicemail", 45 * 60}};
    for (size_t i = 0; i < N(cases); i++) {
        const char *body = gw_arena_printf(
            arena,
            "{\"event_id\": \"ev-%s\", \"call_id\": \"pbx-7\", \"type\": \"%s\","
            " \"from\": \"+8613800138000\", \"to\": \"+861088886666\", \"direction\": \"in\","
            " \"duration\": 42, \"caller_name\": \"Li Na\"}",
            cases[i].type, cases[i].type);
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  type=%s\n", cases[i].type);
        assert_parsed(native_post(arena, body, &c, &reply), &reply);
        assert_str(c.call->provider, "native");
        assert_str(c.call->kind, cases[i].type);
        assert_str(c.call->call_id, "pbx-7");
        assert_int_equal(c.call->duration_s, 42);
        assert_str(c.sender.phone, "+8613800138000");
        assert_str(c.sender.name, "Li Na");
        assert_int_equal(c.respond_within_s, cases[i].respond_within_s);
        assert_str(c.idempotency_key, gw_arena_printf(arena, "phone:native:ev-%s", cases[i].type));
        assert_str(c.external_ref, "call:native:pbx-7");
    }
}

static void test_native_fixture_and_voicemail(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    char *body = fixture_text("native_missed.json");
    struct gw_contact c;
    struct gw_http_reply reply;
    assert_parsed(native_post(arena, body, &c, &reply), &reply);
    free(body);
    assert_str(c.call->kind, "missed");
    assert_int_equal(c.call->at, T_2026_11_21);
    assert_int_equal(c.received_at, T_2026_11_21);
    assert_int_equal(c.call->duration_s, -1);
    assert_str(c.call->to, "+861088886666");
    assert_str(c.idempotency_key, "phone:native:ev-1001");
    assert_int_equal(c.respond_within_s, 45 * 60);
    assert_contains(c.subject, "+8613800138000");

    const char *vm = "{\"event_id\": \"ev-vm\", \"call_id\": \"pbx-8\", \"type\": \"voicemail\","
                     " \"from\": \"013800138000\", \"transcript\": \"我的订单还没到，请回电。\","
                     " \"recording_url\": \"https://pbx.example.com/rec/8.wav\"}";
    assert_parsed(native_post(arena, vm, &c, &reply), &reply);
    assert_str(c.call->transcript, "我的订单还没到，请回电。");
    assert_str(c.call->recording_url, "https://pbx.example.com/rec/8.wav");
    assert_str(c.sender.phone, "+8613800138000");
    assert_contains(c.body, "我的订单还没到，请回电。");
    assert_contains(c.body, "https://pbx.example.com/rec/8.wav");
}

static void test_native_rejections(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    static const struct {
        const char *body;
        int status;
        const char *field;
    } cases[] = {
        /* unknown type */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"exploded\"}", 422, "type"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\"}", 422, "type"},
        /* unknown field, named */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"colour\": \"red\"}",
         400, "colour"},
        /* wrong types */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"from\": 8613800138000}",
         400, "from"},
        {"{\"event_id\": 17, \"call_id\": \"c\", \"type\": \"missed\"}", 400, "event_id"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": [\"missed\"]}", 400, "type"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"voicemail\", \"transcript\": {}}",
         400, "transcript"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"duration\": \"60\"}",
         400, "duration"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"at\": true}", 400, "at"},
        /* values */
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"duration\": -1}", 422,
         "duration"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"ended\", \"duration\": 604801}",
         422, "duration"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"voicemail\","
         " \"recording_url\": \"ftp://pbx.example.com/8.wav\"}",
         422, "recording_url"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"voicemail\","
         " \"recording_url\": \"javascript:alert(1)\"}",
         422, "recording_url"},
        {"{\"call_id\": \"c\", \"type\": \"missed\"}", 422, "event_id"},
        {"{\"event_id\": \"\", \"call_id\": \"c\", \"type\": \"missed\"}", 422, "event_id"},
        {"{\"event_id\": \"e\", \"type\": \"missed\", \"from\": \"+8613800138000\"}", 422,
         "call_id"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"from\": \"12ab\"}", 422,
         "from"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"at\": \"yesterday\"}",
         422, "at"},
        {"{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\", \"direction\": \"up\"}",
         422, "direction"},
        /* malformed JSON, not an object, duplicate keys */
        {"{\"event_id\": \"e\", \"call_id\": ", 400, NULL},
        {"[1, 2]", 400, NULL},
        {"", 400, NULL},
        {"{\"event_id\": \"e\", \"event_id\": \"f\", \"call_id\": \"c\", \"type\": \"missed\"}",
         400, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  %s\n", cases[i].body);
        enum gw_err err = native_post(arena, cases[i].body, &c, &reply);
        assert_rejected(err, &reply, cases[i].status, cases[i].field);
    }
}

static void test_native_at(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    const char *const ats[] = {"\"2026-11-21T18:00:00+08:00\"", "\"2026-11-21T10:00:00Z\"",
                               "\"2026-11-21T05:30:00.500-04:30\"", "1795255200", "\"1795255200\""};
    for (size_t i = 0; i < N(ats); i++) {
        const char *body =
            gw_arena_printf(arena,
                            "{\"event_id\": \"at-%zu\", \"call_id\": \"c\", \"type\": \"ringing\","
                            " \"from\": \"+8613800138000\", \"at\": %s}",
                            i, ats[i]);
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  at: %s\n", ats[i]);
        assert_parsed(native_post(arena, body, &c, &reply), &reply);
        assert_int_equal(c.call->at, T_2026_11_21);
        assert_int_equal(c.received_at, T_2026_11_21);
    }
    /* No "at": now. */
    struct gw_contact c;
    struct gw_http_reply reply;
    time_t before = time(NULL);
    assert_parsed(
        native_post(arena,
                    "{\"event_id\": \"at-now\", \"call_id\": \"c\", \"type\": \"ringing\","
                    " \"from\": \"+8613800138000\"}",
                    &c, &reply),
        &reply);
    assert_int_equal(c.call->at, 0);
    assert_true(c.received_at >= before && c.received_at <= time(NULL));
}

static void test_native_signature_refused(void **state)
{
    struct gw_arena *arena = *state;
    char *body = fixture_text("native_missed.json");
    struct gw_contact c;
    struct gw_http_reply reply;
    char sig[128];
    sign_native(WEBHOOK_SECRET, (long)time(NULL), body, sig, sizeof(sig));
    struct request r = {
        .path = "/v1/phone/events", .content_type = JSON_CT, .body = body, .intake_sig = sig};

    /* Secret unset: refused even with a good signature. */
    assert_rejected(run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    assert_parsed(run(phone_native_parse, &r, arena, &c, &reply), &reply);
    /* Missing. */
    r.intake_sig = NULL;
    assert_rejected(run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* The openssl vector is for 2026-11-21; now it is outside the window. */
    r.intake_sig = gw_arena_printf(arena, "t=%ld,v1=%s", T_2026_11_21, native_sig);
    if (labs((long)time(NULL) - T_2026_11_21) > PHONE_SIGNATURE_SKEW)
        assert_rejected(run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* Signed with another secret, or too long ago. */
    sign_native(OLD_SECRET, (long)time(NULL), body, sig, sizeof(sig));
    r.intake_sig = sig;
    assert_rejected(run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    sign_native(WEBHOOK_SECRET, (long)time(NULL) - 400, body, sig, sizeof(sig));
    assert_rejected(run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    /* Signed, then the body changed. */
    sign_native(WEBHOOK_SECRET, (long)time(NULL), body, sig, sizeof(sig));
    *strstr(body, "missed") = 'k';
    assert_rejected(run(phone_native_parse, &r, arena, &c, &reply), &reply, 403, NULL);
    free(body);

    /* A signed body of another type. */
    const char *text = "{\"event_id\": \"e\", \"call_id\": \"c\", \"type\": \"missed\"}";
    sign_native(WEBHOOK_SECRET, (long)time(NULL), text, sig, sizeof(sig));
    struct request plain = {
        .path = "/v1/phone/events", .content_type = "text/plain", .body = text, .intake_sig = sig};
    assert_rejected(run(phone_native_parse, &plain, arena, &c, &reply), &reply, 415, NULL);
}

static void test_native_withheld(void **state)
{
    struct gw_arena *arena = *state;
    setenv("INTAKE_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    const char *const hidden[] = {"\"anonymous\"", "\"Restricted\"", "\"\"", "null"};
    for (size_t i = 0; i < N(hidden); i++) {
        const char *body =
            gw_arena_printf(arena,
                            "{\"event_id\": \"w-%zu\", \"call_id\": \"c\", \"type\": \"missed\","
                            " \"from\": %s, \"to\": \"+861088886666\"}",
                            i, hidden[i]);
        struct gw_contact c;
        struct gw_http_reply reply;
        print_message("  from: %s\n", hidden[i]);
        assert_parsed(native_post(arena, body, &c, &reply), &reply);
        assert_null(c.sender.phone);
        assert_null(c.call->from);
        assert_str(c.call->to, "+861088886666");
        assert_contains(c.subject, "withheld");
    }
}

/* ======================= times, forms, numbers ======================= */

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

/* ======================= SMS acknowledgement ======================= */

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
    assert_int_equal(phone_render_sms(ack, fx.cfg, arena, &d), GW_OK);
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
    assert_int_equal(phone_render_sms(ack, fx.cfg, arena, &d), GW_OK);
    assert_int_equal(d.kind, GW_DELIVER_NONE);
    assert_contains(d.why_none, "INTAKE_SMS_URL");
    json_decref(ack);
    /* No number to text. */
    set_sms_env();
    ack = sms_ack("en", 1800, NULL);
    memset(&d, 0x5A, sizeof(d));
    assert_int_equal(phone_render_sms(ack, fx.cfg, arena, &d), GW_OK);
    assert_int_equal(d.kind, GW_DELIVER_NONE);
    assert_non_null(d.why_none);
    assert_true(strlen(d.why_none) > 0);
    json_decref(ack);
}

/* ======================= settings ======================= */

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
    phone_settings_read(fx.cfg, &s);
    assert_str(s.country_code, "86");
    assert_int_equal(s.callback_within_s, 45 * 60);
    assert_null(s.twilio_auth_token);
    assert_null(s.sms_url);
    /* The environment is read each time, and an empty value is no value. */
    setenv("INTAKE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, 1);
    setenv("INTAKE_CTI_TOKEN", "", 1);
    phone_settings_read(fx.cfg, &s);
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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_own_signers_match_openssl),
        T(test_twilio_signature_documented_vector),
        T(test_twilio_signature_fixture_vector),
        T(test_sha256_hex_vectors),
        T(test_native_signature_vectors),
        T(test_native_signature_missing_and_malformed),
        T(test_native_signature_window),
        T(test_native_signature_rotation),
        T(test_secret_equal),
        T(test_twilio_fixture_request),
        T(test_twilio_public_url),
        T(test_twilio_call_statuses),
        T(test_twilio_replay_same_key),
        T(test_twilio_recording_callback),
        T(test_twilio_transcription_callback),
        T(test_twilio_transcription_with_recording_fields),
        T(test_twilio_json_body),
        T(test_twilio_signature_refused),
        T(test_twilio_bad_fields),
        T(test_twilio_malformed_body),
        T(test_twilio_wrong_content_type),
        T(test_twilio_outbound),
        T(test_twilio_caller_name_and_client),
        T(test_twilio_respond),
        T(test_cti_events),
        T(test_cti_rejections),
        T(test_cti_token),
        T(test_cti_json_body),
        T(test_cti_repeated_user),
        T(test_cti_numbers),
        T(test_native_types),
        T(test_native_fixture_and_voicemail),
        T(test_native_rejections),
        T(test_native_at),
        T(test_native_signature_refused),
        T(test_native_withheld),
        T(test_parse_time),
        T(test_form_parse),
        T(test_form_parse_field_limit),
        T(test_normalize_phone_local),
        T(test_sms_chinese),
        T(test_sms_english),
        T(test_sms_not_sent),
        T(test_check_config_problems),
        T(test_check_config_good),
        T(test_settings_read),
        T(test_channel_table),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
