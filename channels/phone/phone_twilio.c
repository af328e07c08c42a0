/*
 * Twilio voice webhooks: call status, recording and transcription callbacks.
 * Every request must carry X-Twilio-Signature for the URL Twilio was given
 * (our public_url plus the path and query); a JSON body is covered through
 * the bodySHA256 query parameter instead of its fields. Twilio wants TwiML
 * back, so a recorded event is answered with an empty <Response/>.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_reply.h"
#include "phone.h"

/* CallStatus values and what they mean for the call. */
static const struct {
    const char *status;
    const char *kind;
} call_statuses[] = {
    {"queued", "ringing"},       {"initiated", "ringing"}, {"ringing", "ringing"},
    {"in-progress", "answered"}, {"answered", "answered"}, {"completed", "ended"},
    {"busy", "missed"},          {"no-answer", "missed"},  {"canceled", "missed"},
    {"failed", "missed"},
};

static void empty_twiml(struct gw_http_reply *reply)
{
    reply->status = 200;
    reply->content_type = "text/xml";
    reply->body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
    reply->body_len = strlen(reply->body);
}

/*
 * A callback that reports nothing to keep (a recording still in progress, a
 * failed transcription) is answered 200 like any other, and not registered.
 */
static enum gw_err nothing_to_record(struct gw_http_reply *reply)
{
    empty_twiml(reply);
    return GW_ERR_INVALID;
}

static const char *query_param(struct gw_arena *arena, const char *query, const char *name)
{
    struct gw_form q;
    if (!query || !gw_form_parse(arena, query, strlen(query), &q))
        return NULL;
    return gw_form_get(&q, name);
}

/*
 * The query as Twilio most likely had it in the URL it signed. The server
 * hands it over decoded ("site=a/b c"), but the callback URL configured at
 * Twilio had it escaped ("site=a%2Fb%20c"), and Twilio signs that text.
 * Escapes every byte but the unreserved ones (RFC 3986) and the separators;
 * NULL when there is nothing to escape (the query is its own best guess).
 */
static const char *escaped_query(struct gw_arena *arena, const char *query)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0, len = query ? strlen(query) : 0;
    for (size_t i = 0; i < len; i++)
        n += strchr("-._~=&", query[i]) || isalnum((unsigned char)query[i]) ? 0 : 1;
    char *out = n ? gw_arena_alloc(arena, len + 2 * n + 1) : NULL;
    if (!out)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)query[i];
        if (strchr("-._~=&", c) || isalnum(c)) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

static enum gw_err verify(const struct gw_http_request *req, const struct phone_settings *s,
                          struct gw_arena *arena, const struct gw_form *form, bool is_json,
                          struct gw_http_reply *reply)
{
    const char *given = req->header(req, "x-twilio-signature");
    if (!given || !*given)
        return phone_reject(reply, arena, 403, "missing X-Twilio-Signature", NULL);
    if (!s->twilio_auth_token)
        return phone_reject(reply, arena, 403,
                            "Twilio webhooks are not configured (set INTAKE_TWILIO_AUTH_TOKEN)",
                            NULL);
    const char *base = req->config->public_url;
    size_t base_len = strlen(base);
    while (base_len && base[base_len - 1] == '/')
        base_len--;
    const char *url = gw_arena_printf(arena, "%.*s%s%s%s", (int)base_len, base, req->path,
                                      req->query ? "?" : "", req->query ? req->query : "");
    if (!url)
        return phone_reject(reply, arena, 500, "out of memory", NULL);
    if (is_json) {
        const char *claimed = query_param(arena, req->query, "bodySHA256");
        char actual[65];
        phone_sha256_hex(req->body, req->body_len, actual);
        if (!claimed || !phone_secret_equal(claimed, actual))
            return phone_reject(reply, arena, 403,
                                "the bodySHA256 parameter does not match the body", NULL);
    }
    char expected[64];
    if (!phone_twilio_signature(s->twilio_auth_token, url, is_json ? NULL : form, expected))
        return phone_reject(reply, arena, 500, "the signature could not be computed", NULL);
    if (phone_secret_equal(given, expected))
        return GW_OK;
    /* The query escaped as in the configured URL: a second candidate for the same secret. */
    const char *escaped = escaped_query(arena, req->query);
    const char *url2 =
        escaped ? gw_arena_printf(arena, "%.*s%s?%s", (int)base_len, base, req->path, escaped)
                : NULL;
    if (url2 &&
        phone_twilio_signature(s->twilio_auth_token, url2, is_json ? NULL : form, expected) &&
        phone_secret_equal(given, expected))
        return GW_OK;
    return phone_reject(reply, arena, 403, "X-Twilio-Signature does not match", NULL);
}

/* Twilio Client and SIP endpoints are not phone numbers; they name nobody to call back. */
static const char *pstn(const char *v)
{
    return v && (!strncmp(v, "client:", 7) || !strncmp(v, "sip:", 4)) ? NULL : v;
}

enum gw_err phone_twilio_parse(const struct gw_http_request *req, struct gw_arena *arena,
                               struct gw_contact *contact, struct gw_http_reply *reply)
{
    struct gw_form f;
    bool is_json;
    if (phone_body_fields(req, arena, &f, &is_json, reply) != GW_OK)
        return GW_ERR_INVALID;
    struct phone_settings s;
    phone_settings_read(req->config, &s);
    if (verify(req, &s, arena, &f, is_json, reply) != GW_OK)
        return GW_ERR_INVALID;

    struct phone_event ev = {.call = {.provider = "twilio", .duration_s = -1}};
    const char *sid = gw_form_get(&f, "CallSid");
    if (!sid || !*sid)
        return phone_reject(reply, arena, 422, "required", "CallSid");
    ev.call.call_id = sid;
    ev.call_id_field = "CallSid";
    ev.call.at = phone_parse_time(gw_form_get(&f, "Timestamp"));
    const char *recording = gw_form_get(&f, "RecordingSid");
    const char *transcription = gw_form_get(&f, "TranscriptionSid");
    const char *text = gw_form_get(&f, "TranscriptionText");
    const char *duration = NULL;
    /*
     * A transcription callback also names the recording it transcribed
     * (RecordingSid, RecordingUrl), so it is told apart first.
     */
    if (transcription || text) {
        const char *status = gw_form_get(&f, "TranscriptionStatus");
        if ((status && strcmp(status, "completed")) || !text || !*text)
            return nothing_to_record(reply);
        ev.call.kind = "transcript";
        ev.call.transcript = text;
        ev.event_key = gw_arena_printf(arena, "twilio:%s:transcript:%s", sid,
                                       transcription ? transcription : "-");
    } else if (recording) {
        const char *status = gw_form_get(&f, "RecordingStatus");
        if (status && strcmp(status, "completed"))
            return nothing_to_record(reply);
        ev.call.kind = "recording";
        ev.call.recording_url = gw_form_get(&f, "RecordingUrl");
        if (!ev.call.recording_url || !*ev.call.recording_url)
            return phone_reject(reply, arena, 422, "required with RecordingSid", "RecordingUrl");
        duration = gw_form_get(&f, "RecordingDuration");
        ev.event_key = gw_arena_printf(arena, "twilio:%s:recording:%s", sid, recording);
    } else {
        const char *status = gw_form_get(&f, "CallStatus");
        if (!status)
            return phone_reject(reply, arena, 422, "required", "CallStatus");
        for (size_t i = 0; i < sizeof(call_statuses) / sizeof(call_statuses[0]); i++)
            if (!strcmp(status, call_statuses[i].status))
                ev.call.kind = call_statuses[i].kind;
        if (!ev.call.kind)
            return phone_reject(reply, arena, 422, "unknown CallStatus", "CallStatus");
        if (!strcmp(ev.call.kind, "missed"))
            ev.call.cause = status;
        const char *dir = gw_form_get(&f, "Direction");
        ev.call.direction = !dir ? NULL : !strncmp(dir, "outbound", 8) ? "out" : "in";
        ev.from_raw = pstn(gw_form_get(&f, "From"));
        ev.to_raw = pstn(gw_form_get(&f, "To"));
        ev.caller_name = gw_form_get(&f, "CallerName");
        duration = gw_form_get(&f, "CallDuration");
        ev.event_key = gw_arena_printf(arena, "twilio:%s:status:%s", sid, status);
    }
    if (duration) {
        char *end;
        long d = strtol(duration, &end, 10);
        if (!*duration || *end || d < 0 || d > 7 * 24 * 3600)
            return phone_reject(reply, arena, 422, "must be a number of seconds",
                                recording ? "RecordingDuration" : "CallDuration");
        ev.call.duration_s = d;
    }
    if (!ev.event_key)
        return phone_reject(reply, arena, 500, "out of memory", NULL);
    return phone_contact_build(&s, arena, &ev, contact, reply);
}

void phone_twilio_respond(const struct gw_intake_result *result, struct gw_arena *arena,
                          struct gw_http_reply *reply)
{
    if (result->err != GW_OK) {
        gw_reply_intake_failure(reply, arena, result);
        return;
    }
    empty_twiml(reply);
}
