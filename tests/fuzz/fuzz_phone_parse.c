/*
 * Fuzz target for the phone channel's parsers. Signatures would stop almost
 * every input at the door, so the target signs what it sends: the input goes
 * to the CTI route (token in the path) as a form body and as JSON, and to our
 * signed-JSON route with a valid X-Intake-Signature (tests/support/signers.c,
 * checked against openssl vectors by the phone tests). Any bytes in: a
 * contact with a call event, or a 4xx with a reason (or Twilio's 200 for
 * "nothing to record"), never a crash, leak or undefined behaviour. Built
 * like the other fuzz targets (see fuzz_api_parse.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "signers.h"

#define SECRET "fuzz-secret"
#define TOKEN  "fuzz-token"

extern const struct gw_channel gw_channel_phone;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct headers {
    const char *signature;
};

static const char *header(const struct gw_http_request *req, const char *name)
{
    const struct headers *h = req->header_ctx;
    return !strcmp(name, "x-intake-signature") ? h->signature : NULL;
}

static const struct gw_route *route(const char *path)
{
    for (size_t i = 0; i < gw_channel_phone.n_routes; i++)
        if (!strncmp(gw_channel_phone.routes[i].path, path,
                     strlen(gw_channel_phone.routes[i].path)))
            return &gw_channel_phone.routes[i];
    abort();
}

static void check(const struct gw_route *r, struct gw_http_request *req)
{
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_contact contact;
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    enum gw_err err = r->parse(req, arena, &contact, &reply);
    if (err == GW_OK && (!contact.registered_by || !contact.registered_by->describe ||
                         !contact.idempotency_key || !contact.body))
        abort();
    /* The call event, as the database will read it: it has a kind and an id. */
    json_t *doc = err == GW_OK ? json_object() : NULL;
    if (doc) {
        contact.registered_by->describe(&contact, doc);
        json_t *call = json_object_get(doc, "call");
        if (!json_string_value(json_object_get(call, "kind")) ||
            !json_string_value(json_object_get(call, "call_id")))
            abort();
        json_decref(doc);
    }
    if (err != GW_OK && (reply.status < 200 || reply.status > 499 || !reply.body))
        abort();
    gw_arena_destroy(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_config *cfg;
    if (!cfg) {
        struct gw_problems pr = {0};
        if (gw_config_load_text("{\"channels\":{\"phone\":{\"cti_token\":\"" TOKEN
                                "\",\"webhook_secret\":\"" SECRET "\"}}}",
                                &cfg, &pr) != GW_OK)
            abort();
    }
    struct headers h = {NULL};
    struct gw_http_request req = {
        .method = "POST",
        .path = "/v1/phone/cti/" TOKEN,
        .content_type = "application/x-www-form-urlencoded",
        .body = data,
        .body_len = size,
        .header = header,
        .header_ctx = &h,
        .config = cfg,
    };
    const struct gw_route *cti = route("/v1/phone/cti/");
    check(cti, &req);
    req.content_type = "application/json";
    check(cti, &req);

    /* Signed now, so only the body decides what happens. */
    char sig[SIGNER_INTAKE_LEN];
    signer_intake(SECRET, (long)time(NULL), data, size, sig);
    h.signature = sig;
    req.path = "/v1/phone/events";
    check(route("/v1/phone/events"), &req);
    return 0;
}
