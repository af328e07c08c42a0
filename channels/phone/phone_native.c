/*
 * Our own call events (POST /v1/phone/events), for phone systems we write the
 * bridge for. The schema is in docs/phone.md; the body is signed with
 * X-Intake-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">, and
 * a signature older or newer than five minutes is refused, so a captured
 * request cannot be replayed later. Parsing is strict, as on the API route:
 * an unknown field or a wrong type gets a 400 naming it.
 */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "gw_reply.h"
#include "gw_validate.h"
#include "phone.h"

#define EVENT_ID_MAX   128
#define TRANSCRIPT_MAX 20000

static const char *const event_types[] = {"ringing", "answered",  "missed",
                                          "ended",   "voicemail", NULL};

/* An optional string member; false (with a 400 written) when it is something else. */
static bool opt_str(json_t *root, const char *key, struct gw_arena *arena, const char **out,
                    struct gw_http_reply *reply)
{
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        phone_reject(reply, arena, 400, "must be a string", key);
        return false;
    }
    *out = gw_arena_strdup(arena, json_string_value(v));
    return *out != NULL;
}

static enum gw_err read_event(json_t *root, struct gw_arena *arena, struct phone_event *ev,
                              struct gw_http_reply *reply)
{
    static const char *const known[] = {
        "event_id",      "call_id",    "type",        "from",      "to",    "at", "duration",
        "recording_url", "transcript", "caller_name", "direction", "cause", NULL};
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= !strcmp(*k, key);
        if (!ok)
            return phone_reject(reply, arena, 400, "unknown field", gw_arena_strdup(arena, key));
    }
    const char *event_id, *type, *at = NULL;
    if (!opt_str(root, "event_id", arena, &event_id, reply) ||
        !opt_str(root, "call_id", arena, &ev->call.call_id, reply) ||
        !opt_str(root, "type", arena, &type, reply) ||
        !opt_str(root, "from", arena, &ev->from_raw, reply) ||
        !opt_str(root, "to", arena, &ev->to_raw, reply) ||
        !opt_str(root, "recording_url", arena, &ev->call.recording_url, reply) ||
        !opt_str(root, "transcript", arena, &ev->call.transcript, reply) ||
        !opt_str(root, "caller_name", arena, &ev->caller_name, reply) ||
        !opt_str(root, "direction", arena, &ev->call.direction, reply) ||
        !opt_str(root, "cause", arena, &ev->call.cause, reply))
        return GW_ERR_INVALID;
    if (!event_id || !*event_id || strlen(event_id) > EVENT_ID_MAX)
        return phone_reject(reply, arena, 422, "required, 1 to 128 characters", "event_id");
    if (!type)
        return phone_reject(reply, arena, 422, "required", "type");
    for (const char *const *t = event_types; *t && !ev->call.kind; t++)
        if (!strcmp(*t, type))
            ev->call.kind = *t;
    if (!ev->call.kind)
        return phone_reject(reply, arena, 422,
                            "unknown event type (ringing, answered, missed, ended, voicemail)",
                            "type");
    if (ev->call.direction && strcmp(ev->call.direction, "in") && strcmp(ev->call.direction, "out"))
        return phone_reject(reply, arena, 422, "must be \"in\" or \"out\"", "direction");
    if (ev->call.recording_url && !gw_http_url_valid(ev->call.recording_url))
        return phone_reject(reply, arena, 422, "must be an http or https URL", "recording_url");
    if (ev->call.transcript && gw_utf8_length(ev->call.transcript) > TRANSCRIPT_MAX)
        return phone_reject(reply, arena, 422, "longer than 20000 characters", "transcript");
    json_t *when = json_object_get(root, "at");
    if (json_is_integer(when) && json_integer_value(when) > 0) {
        ev->call.at = (time_t)json_integer_value(when);
    } else if (when && !json_is_null(when)) {
        if (!opt_str(root, "at", arena, &at, reply))
            return GW_ERR_INVALID;
        if (!(ev->call.at = phone_parse_time(at)))
            return phone_reject(reply, arena, 422, "must be an RFC 3339 time or Unix seconds",
                                "at");
    }
    json_t *dur = json_object_get(root, "duration");
    if (dur && !json_is_null(dur)) {
        if (!json_is_integer(dur))
            return phone_reject(reply, arena, 400, "must be an integer", "duration");
        if (json_integer_value(dur) < 0 || json_integer_value(dur) > 7 * 24 * 3600)
            return phone_reject(reply, arena, 422, "must be a whole number of seconds", "duration");
        ev->call.duration_s = (long)json_integer_value(dur);
    }
    ev->event_key = gw_arena_printf(arena, "native:%s", event_id);
    return ev->event_key ? GW_OK : phone_reject(reply, arena, 500, "out of memory", NULL);
}

enum gw_err phone_native_parse(const struct gw_http_request *req, struct gw_arena *arena,
                               struct gw_contact *contact, struct gw_http_reply *reply)
{
    struct phone_settings s;
    phone_settings_read(req->config, &s);
    const char *why = NULL;
    if (!phone_native_signature_ok(req->header(req, "x-intake-signature"), s.webhook_secret,
                                   req->body, req->body_len, (long)time(NULL), &why))
        return phone_reject(reply, arena, 403, why, NULL);
    if (req->content_type && strncasecmp(req->content_type, "application/json", 16))
        return phone_reject(reply, arena, 415, "Content-Type must be application/json", NULL);
    if (!gw_utf8_valid((const char *)req->body, req->body_len))
        return phone_reject(reply, arena, 400, "the body is not valid UTF-8", NULL);
    json_error_t jerr;
    json_t *root =
        json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        const char *msg = root ? "the body must be a JSON object"
                               : gw_arena_printf(arena, "malformed JSON at line %d column %d: %s",
                                                 jerr.line, jerr.column, jerr.text);
        json_decref(root);
        return phone_reject(reply, arena, 400, msg ? msg : "malformed JSON", NULL);
    }
    struct phone_event ev = {.call = {.provider = "native", .duration_s = -1},
                             .call_id_field = "call_id"};
    enum gw_err err = read_event(root, arena, &ev, reply);
    json_decref(root);
    if (err != GW_OK)
        return err;
    return phone_contact_build(&s, arena, &ev, contact, reply);
}
