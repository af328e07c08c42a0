/*
 * Generic CTI events, in the shape PBX bridges already send to help desks
 * (newCall / answer / hangup with from, to, direction, callId and a hangup
 * cause), form-encoded or JSON. The shared token is the last path segment
 * (POST /v1/phone/cti/{token}), because many PBX bridges can set a URL and
 * nothing else.
 */
#include <string.h>

#include "gw_reply.h"
#include "phone.h"

#define CTI_PATH "/v1/phone/cti/"

static const struct {
    const char *cause;
    const char *kind;
} hangup_causes[] = {
    {"normalClearing", "ended"}, {"busy", "missed"},       {"cancel", "missed"},
    {"noAnswer", "missed"},      {"congestion", "missed"}, {"notFound", "missed"},
    {"forwarded", "forwarded"},
};

enum gw_err phone_cti_parse(const struct gw_http_request *req, struct gw_arena *arena,
                            struct gw_contact *contact, struct gw_http_reply *reply)
{
    struct phone_settings s;
    phone_settings_read(req->config, &s);
    if (!s.cti_token)
        return phone_reject(reply, arena, 403,
                            "CTI events are not configured (set INTAKE_CTI_TOKEN)", NULL);
    const char *token = req->path + strlen(CTI_PATH);
    if (!phone_secret_equal(token, s.cti_token))
        return phone_reject(reply, arena, 403, "wrong CTI token", NULL);

    struct gw_form f;
    bool is_json;
    if (phone_body_fields(req, arena, &f, &is_json, reply) != GW_OK)
        return GW_ERR_INVALID;
    struct phone_event ev = {.call = {.provider = "cti", .duration_s = -1},
                             .call_id_field = "callId"};
    const char *event = gw_form_get(&f, "event");
    if (!event)
        return phone_reject(reply, arena, 422, "required", "event");
    ev.call.call_id = gw_form_get(&f, "callId");
    if (!strcmp(event, "newCall")) {
        ev.call.kind = "ringing";
    } else if (!strcmp(event, "answer")) {
        ev.call.kind = "answered";
    } else if (!strcmp(event, "hangup")) {
        const char *cause = gw_form_get(&f, "cause");
        if (!cause)
            return phone_reject(reply, arena, 422, "required for a hangup", "cause");
        for (size_t i = 0; i < sizeof(hangup_causes) / sizeof(hangup_causes[0]); i++)
            if (!strcmp(cause, hangup_causes[i].cause))
                ev.call.kind = hangup_causes[i].kind;
        if (!ev.call.kind)
            return phone_reject(
                reply, arena, 422,
                "unknown cause (normalClearing, busy, cancel, noAnswer, congestion, "
                "notFound, forwarded)",
                "cause");
        ev.call.cause = cause;
    } else {
        return phone_reject(reply, arena, 422, "unknown event (newCall, answer, hangup)", "event");
    }
    const char *dir = gw_form_get(&f, "direction");
    if (dir && strcmp(dir, "in") && strcmp(dir, "out"))
        return phone_reject(reply, arena, 422, "must be \"in\" or \"out\"", "direction");
    ev.call.direction = dir;
    ev.from_raw = gw_form_get(&f, "from");
    ev.to_raw = gw_form_get(&f, "to");
    ev.caller_name = gw_form_get(&f, "callerName");
    ev.call.at = phone_parse_time(gw_form_get(&f, "timestamp"));
    ev.event_key =
        gw_arena_printf(arena, "cti:%s:%s", ev.call.call_id ? ev.call.call_id : "", event);
    if (!ev.event_key)
        return phone_reject(reply, arena, 500, "out of memory", NULL);
    return phone_contact_build(&s, arena, &ev, contact, reply);
}
