/*
 * The API channel: POST /v1/contacts with a JSON body, for systems that
 * already know who wrote in (a CRM, a form backend, a script). The parser is
 * strict: unknown fields, wrong types, invalid UTF-8, a bad address or number
 * each get a 400 naming the field, because a silently dropped field is a lost
 * detail of a customer's request. The idempotency key is the caller's
 * external_id, so a caller that retries after a timeout never makes a second
 * ticket.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_json_check.h"
#include "gw_ack.h"
#include "gw_channel.h"
#include "gw_config.h"
#include "gw_reply.h"
#include "gw_validate.h"

#define EXTERNAL_ID_MAX 200
#define NAME_MAX_CHARS  200
#define SUBJECT_MAX     998
#define TICKET_REF_MAX  31

static int parse_customer(struct gw_check *p, json_t *cust, struct gw_sender *s)
{
    static const char *const known[] = {"name", "email", "phone", "company", NULL};
    if (!json_is_object(cust))
        return gw_check_reject(p, "must be an object with name, email or phone", "customer");
    if (!gw_check_known_keys(p, cust, known, "customer."))
        return 0;
    const char *email, *phone;
    if (!gw_check_opt_string(p, cust, "name", "customer.name", NAME_MAX_CHARS, &s->name) ||
        !gw_check_opt_string(p, cust, "company", "customer.company", NAME_MAX_CHARS, &s->company) ||
        !gw_check_opt_string(p, cust, "email", "customer.email", 0, &email) ||
        !gw_check_opt_string(p, cust, "phone", "customer.phone", 0, &phone))
        return 0;
    if (!email && !phone)
        return gw_check_reject(p, "an email or a phone number is required", "customer.email");
    if (email && !(s->email = gw_normalize_email(p->arena, email)))
        return gw_check_reject(p, "not a valid email address", "customer.email");
    if (phone && !(s->phone = gw_normalize_phone(p->arena, phone)))
        return gw_check_reject(p, "not a phone number in international form (+8613800138000)",
                               "customer.phone");
    return 1;
}

static int parse_fields(struct gw_check *p, json_t *root, const struct gw_config *cfg,
                        struct gw_contact *c)
{
    static const char *const known[] = {"external_id", "customer",     "subject",
                                        "body",        "language",     "ticket",
                                        "product",     "callback_url", NULL};
    if (!json_is_object(root))
        return gw_check_reject(p, "the body must be a JSON object", NULL);
    if (!gw_check_known_keys(p, root, known, ""))
        return 0;
    const char *external_id, *language, *body;
    if (!gw_check_opt_string(p, root, "external_id", "external_id", EXTERNAL_ID_MAX, &external_id))
        return 0;
    if (!external_id || !*external_id)
        return gw_check_reject(p, "required", "external_id");
    if (!json_object_get(root, "customer"))
        return gw_check_reject(p, "required", "customer");
    if (!parse_customer(p, json_object_get(root, "customer"), &c->sender))
        return 0;
    if (!gw_check_opt_string(p, root, "subject", "subject", SUBJECT_MAX, &c->subject) ||
        !gw_check_opt_string(p, root, "body", "body", 0, &body) ||
        !gw_check_opt_string(p, root, "language", "language", 0, &language) ||
        !gw_check_opt_string(p, root, "ticket", "ticket", TICKET_REF_MAX, &c->ticket_ref) ||
        !gw_check_opt_string(p, root, "product", "product", NAME_MAX_CHARS, &c->product) ||
        !gw_check_opt_string(p, root, "callback_url", "callback_url", 0, &c->reply_handle))
        return 0;
    if (!body || gw_is_blank(body))
        return gw_check_reject(p, "required", "body");
    if (language && strcmp(language, "zh") && strcmp(language, "en"))
        return gw_check_reject(p, "must be \"zh\" or \"en\"", "language");
    if (c->ticket_ref && strncmp(c->ticket_ref, cfg->ticket_prefix, strlen(cfg->ticket_prefix)))
        return gw_check_reject(p, "not a ticket number", "ticket");
    if (c->reply_handle && !gw_http_url_valid(c->reply_handle))
        return gw_check_reject(p, "must be an http or https URL", "callback_url");
    c->body = body;
    c->sender.language = language;
    c->idempotency_key = gw_arena_printf(p->arena, "api:%s", external_id);
    return c->idempotency_key ? 1 : gw_check_reject(p, "out of memory", NULL);
}

static enum gw_err parse_contact(const struct gw_http_request *req, struct gw_arena *arena,
                                 struct gw_contact *c, struct gw_http_reply *reply)
{
    struct gw_check p = {arena, reply};
    if (req->content_type && !gw_is_json_type(req->content_type)) {
        gw_reply_error(reply, arena, 415, "Content-Type must be application/json", NULL);
        return GW_ERR_INVALID;
    }
    if (!gw_utf8_valid((const char *)req->body, req->body_len)) {
        gw_check_reject(&p, "the body is not valid UTF-8", NULL);
        return GW_ERR_INVALID;
    }
    json_error_t jerr;
    json_t *root =
        json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        const char *msg = gw_arena_printf(arena, "malformed JSON at line %d column %d: %s",
                                          jerr.line, jerr.column, jerr.text);
        gw_check_reject(&p, msg ? msg : "malformed JSON", NULL);
        return GW_ERR_INVALID;
    }
    memset(c, 0, sizeof(*c));
    c->channel = "api";
    c->received_at = time(NULL);
    int ok = parse_fields(&p, root, req->config, c);
    json_decref(root);
    return ok ? GW_OK : GW_ERR_INVALID;
}

static void respond_contact(const struct gw_intake_result *r, struct gw_arena *arena,
                            struct gw_http_reply *reply)
{
    if (r->err != GW_OK) {
        gw_reply_intake_failure(reply, arena, r);
        return;
    }
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "ticket", r->ticket, "customer",
                  r->customer, "category", r->category, "priority", r->priority, "queue", r->queue,
                  "language", r->language, "new_ticket", r->new_ticket, "duplicate", r->duplicate);
    gw_reply_json(reply, arena, r->duplicate ? 200 : 201, o);
}

/* The acknowledgement goes to the caller's callback URL, when it gave one. */
static enum gw_err render_ack(const json_t *ack, const struct gw_config *cfg,
                              struct gw_arena *arena, struct gw_delivery *out)
{
    const char *url = json_string_value(json_object_get(ack, "reply_handle"));
    memset(out, 0, sizeof(*out));
    if (!url) {
        out->kind = GW_DELIVER_NONE;
        return GW_OK;
    }
    const char *text = gw_ack_text(ack, cfg, arena);
    json_t *o = json_pack(
        "{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:s?}", "event", "ticket.acknowledged", "ticket",
        json_object_get(ack, "ticket"), "customer", json_object_get(ack, "customer"), "priority",
        json_object_get(ack, "priority"), "category", json_object_get(ack, "category"), "language",
        json_object_get(ack, "language"), "message", text);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body)
        return GW_ERR_NOMEM;
    out->kind = GW_DELIVER_HTTP_POST;
    out->url = gw_arena_strdup(arena, url);
    out->content_type = "application/json";
    out->body = gw_arena_strdup(arena, body);
    free(body);
    if (!out->url || !out->body)
        return GW_ERR_NOMEM;
    out->body_len = strlen(out->body);
    return GW_OK;
}

static const struct gw_route api_routes[] = {
    {.method = "POST",
     .path = "/v1/contacts",
     .auth = GW_AUTH_API_TOKEN,
     .parse = parse_contact,
     .respond = respond_contact},
};

const struct gw_channel gw_channel_api = {
    .name = "api",
    .routes = api_routes,
    .n_routes = sizeof(api_routes) / sizeof(api_routes[0]),
    .render_ack = render_ack,
};
