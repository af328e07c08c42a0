/*
 * The phone channel: call-event webhooks from Twilio, generic CTI bridges and
 * our own signed JSON, one call model behind them (see phone.h), text-message
 * acknowledgements, and the stale-call sweep.
 */
#include <string.h>

#include "gw_reply.h"
#include "phone.h"

const char *phone_call_state(const struct gw_intake_result *r, struct gw_arena *arena)
{
    json_t *answer = r->document ? json_loads(r->document, 0, NULL) : NULL;
    const char *state = json_string_value(json_object_get(answer, "call_state"));
    const char *copy = state && *state ? gw_arena_strdup(arena, state) : NULL;
    json_decref(answer);
    return copy;
}

void phone_json_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                        struct gw_http_reply *reply)
{
    if (r->err != GW_OK) {
        gw_reply_intake_failure(reply, arena, r);
        return;
    }
    if (r->spooled) {
        /* Kept by the gateway; registered (and its ticket made) when the database answers. */
        gw_reply_json(reply, arena, 200, json_pack("{s:s}", "status", "spooled"));
        return;
    }
    json_t *o =
        json_pack("{s:s, s:s?, s:s?, s:b}", "status", r->duplicate ? "duplicate" : "recorded",
                  "call_state", phone_call_state(r, arena), "ticket",
                  r->ticket[0] ? r->ticket : NULL, "new_ticket", r->new_ticket);
    gw_reply_json(reply, arena, 200, o);
}

const struct gw_operation phone_operations[PHONE_OP__COUNT] = {
    [PHONE_OP_CALL_EVENT] = {"phone_call_event", "intake_call_event", "intake_call_event_many",
                             phone_describe_call},
    [PHONE_OP_STALE_CALLS] = {"phone_stale_calls", "intake_stale_calls"},
};

static const struct gw_route phone_routes[] = {
    {.method = "POST",
     .path = "/v1/phone/twilio",
     .auth = GW_AUTH_NONE,
     .max_body = PHONE_MAX_BODY,
     .spool = GW_SPOOL_BY_DEFAULT, /* phone systems post an event once */
     .parse = phone_twilio_parse,
     .respond = phone_twilio_respond},
    {.method = "POST",
     .path = "/v1/phone/cti/",
     .path_prefix = true,
     .auth = GW_AUTH_NONE,
     .max_body = PHONE_MAX_BODY,
     .spool = GW_SPOOL_BY_DEFAULT, /* phone systems post an event once */
     .parse = phone_cti_parse,
     .respond = phone_json_respond},
    {.method = "POST",
     .path = "/v1/phone/events",
     .auth = GW_AUTH_NONE,
     .max_body = PHONE_MAX_BODY,
     .spool = GW_SPOOL_BY_DEFAULT, /* phone systems post an event once */
     .parse = phone_native_parse,
     .respond = phone_json_respond},
};

/* Phone numbers (E.164), by text message: the payload's "phone". */
static const char *const phone_address_kinds[] = {"phone", NULL};

const struct gw_channel gw_channel_phone = {
    .name = PHONE_CHANNEL,
    .routes = phone_routes,
    .n_routes = sizeof(phone_routes) / sizeof(phone_routes[0]),
    .operations = phone_operations,
    .n_operations = PHONE_OP__COUNT,
    .check_config = phone_check_config,
    .poll = phone_poll_stale,
    .render_ack = phone_render_sms,
    .address_kinds = phone_address_kinds,
    .render_reply = phone_render_reply,
};
