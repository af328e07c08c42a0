/*
 * What the phone channel's parser tests (tests/channels/phone/
 * test_phone_parse_*.c) share: the config and environment each test starts
 * from, requests handed to a route's parser as the core builds them, the
 * checks on what comes back, and the signature vectors computed with the
 * openssl command (tests/fixtures/phone/README.md has the commands).
 * No server and no database: the parsers are pure functions.
 */
#ifndef PHONE_ROUTES_H
#define PHONE_ROUTES_H

#include <stddef.h>

#include "gw_arena.h"
#include "gw_channel.h"
#include "gw_config.h"
#include "gw_contact.h"
#include "signers.h"

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

/* Twilio's documented example: token 12345, https://mycompany.com/myapp.php?foo=1&bar=2. */
extern const char twilio_doc_sig[];
/* twilio_status_completed.form posted to TWILIO_URL, keyed with TWILIO_TOKEN. */
extern const char twilio_form_sig[];
/* TWILIO_URL alone (no fields), keyed with TWILIO_TOKEN. */
extern const char twilio_url_only_sig[];
/* sha256 of twilio_status_no_answer.json, and TWILIO_URL?bodySHA256=<it> signed. */
extern const char twilio_json_sha256[];
extern const char twilio_json_sig[];
/* sha256 of nothing. */
extern const char empty_sha256[];
/* HMAC-SHA256 of "1795255200." + native_missed.json, with WEBHOOK_SECRET and OLD_SECRET. */
extern const char native_sig[];
extern const char native_old_sig[];

/* The group's config: public_url, default country 86, callbacks within 45 minutes. */
extern struct gw_config *route_cfg;

/*
 * cmocka set-up and tear-down: the group loads route_cfg; each test gets a
 * fresh arena in *state and none of the channel's environment variables.
 */
int route_group_setup(void **state);
int route_group_teardown(void **state);
int route_setup(void **state);
int route_teardown(void **state);
#define ROUTE_TEST(fn) cmocka_unit_test_setup_teardown(fn, route_setup, route_teardown)

/* A config from JSON text (the caller frees it), or NULL with the problems printed. */
struct gw_config *route_load_config(const char *json);

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Equal strings, or both NULL; says where the caller was. */
#define assert_str(got, want) route_assert_str_at((got), (want), __FILE__, __LINE__)
void route_assert_str_at(const char *got, const char *want, const char *file, int line);
#define assert_contains(hay, needle) route_assert_contains_at((hay), (needle), __FILE__, __LINE__)
void route_assert_contains_at(const char *hay, const char *needle, const char *file, int line);

/* application/x-www-form-urlencoded, written here (not by curl); malloc'd. */
char *route_form_encode(const struct form_field *f, size_t n);

/* A request as the core would hand it over; body NULL is an empty POST, as the server sends. */
struct route_request {
    const char *path;
    const char *query;
    const char *content_type;
    const char *body;
    const char *twilio_sig;
    const char *intake_sig;
    const struct gw_config *cfg; /* NULL: route_cfg */
};

/*
 * Runs a route's parser on a malloc'd copy of the body, freed before
 * returning, so a contact left pointing into the request shows up under ASan.
 */
enum gw_err route_run(enum gw_err (*parse)(const struct gw_http_request *, struct gw_arena *,
                                           struct gw_contact *, struct gw_http_reply *),
                      const struct route_request *r, struct gw_arena *arena, struct gw_contact *c,
                      struct gw_http_reply *reply);

/* A 4xx with the one error shape: {"error": non-empty, "field": field or absent}. */
#define assert_rejected(err, reply, status, field)                                                 \
    route_assert_rejected_at((err), (reply), (status), (field), __FILE__, __LINE__)
void route_assert_rejected_at(enum gw_err err, const struct gw_http_reply *reply, int status,
                              const char *field, const char *file, int line);
/* The error message of a rejection, arena copy. */
const char *route_error(struct gw_arena *arena, const struct gw_http_reply *reply);
/* Parsed with GW_OK, or the reply says why not. */
#define assert_parsed(err, reply) route_assert_parsed_at((err), (reply), __FILE__, __LINE__)
void route_assert_parsed_at(enum gw_err err, const struct gw_http_reply *reply, const char *file,
                            int line);
/* The 200 Twilio gets for a callback with nothing to keep: not registered. */
void route_assert_twiml_nothing(enum gw_err err, const struct gw_http_reply *reply);

/* tests/fixtures/phone/<name> as a string (malloc'd); it must hold no NUL. */
char *route_fixture(const char *name);

/* A form POST to the Twilio route, signed with TWILIO_TOKEN. */
enum gw_err route_twilio_post(struct gw_arena *arena, const struct form_field *f, size_t n,
                              struct gw_contact *c, struct gw_http_reply *reply);
/* A POST to the CTI route with token in the path. */
enum gw_err route_cti_post(struct gw_arena *arena, const char *token, const char *content_type,
                           const char *body, struct gw_contact *c, struct gw_http_reply *reply);
/* A native event signed now with WEBHOOK_SECRET. */
enum gw_err route_native_post(struct gw_arena *arena, const char *body, struct gw_contact *c,
                              struct gw_http_reply *reply);

#endif
