/*
 * From a call event to the contact the core registers through the channel's
 * own operation, and the event's part of the registration document. The
 * texts written here are for agents (English, like the rest of a ticket's
 * system lines); the database adds what earlier events of the call told it
 * (db/functions/calls.sql).
 * Which number is the customer's depends on the direction: the caller of an
 * inbound call, the callee of an outbound one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gw_reply.h"
#include "gw_validate.h"
#include "phone.h"

enum gw_err phone_reject(struct gw_http_reply *reply, struct gw_arena *arena, int status,
                         const char *why, const char *field)
{
    gw_reply_error(reply, arena, status, why, field);
    return GW_ERR_INVALID;
}

/* What phone systems put where a caller withheld the number. */
static bool withheld(const char *raw)
{
    static const char *const markers[] = {"anonymous",   "restricted", "private", "unknown",
                                          "unavailable", "withheld",   NULL};
    if (!raw || !*raw)
        return true;
    for (const char *const *m = markers; *m; m++)
        if (!strcasecmp(raw, *m))
            return true;
    /* Twilio's stand-in numbers for hidden callers. */
    return !strcmp(raw, "+266696687") || !strcmp(raw, "+7378742833") || !strcmp(raw, "+2562533") ||
           !strcmp(raw, "+86282452253");
}

static bool number(struct gw_arena *arena, const struct phone_settings *s, const char *raw,
                   const char **out)
{
    *out = NULL;
    if (withheld(raw))
        return true;
    /* A '+' a bridge forgot to escape arrives as a space: " 8613800138000". */
    if (raw[0] == ' ' && raw[1] >= '1' && raw[1] <= '9')
        raw = gw_arena_printf(arena, "+%s", raw + 1);
    *out = raw ? gw_normalize_phone_local(arena, raw, s->country_code) : NULL;
    return *out != NULL;
}

static const char *when(struct gw_arena *arena, time_t at)
{
    struct tm tm;
    char buf[32];
    gmtime_r(&at, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
    return gw_arena_strdup(arena, buf);
}

static const char *duration_text(struct gw_arena *arena, long s)
{
    if (s < 0)
        return "";
    return s >= 60 ? gw_arena_printf(arena, ", duration %ld min %ld s", s / 60, s % 60)
                   : gw_arena_printf(arena, ", duration %ld s", s);
}

static void write_texts(struct gw_arena *arena, const struct phone_event *ev, time_t at,
                        struct gw_contact *c)
{
    const struct phone_call *e = &ev->call;
    const char *who = e->from ? e->from : "a withheld number";
    const char *name = ev->caller_name ? gw_arena_printf(arena, " (%s)", ev->caller_name) : "";
    const char *to = e->to ? gw_arena_printf(arena, " to %s", e->to) : "";
    const char *t = when(arena, at);
    const char *cause = e->cause ? gw_arena_printf(arena, ", reason: %s", e->cause) : "";
    const char *kind = e->kind;
    c->text_is_ours = true; /* our summary of the call: it says nothing of the caller's language */
    if (!strcmp(kind, "missed")) {
        c->subject = gw_arena_printf(arena, "Missed call from %s", who);
        c->body = gw_arena_printf(arena, "Missed call from %s%s%s at %s%s. Please call back.", who,
                                  name, to, t, cause);
    } else if (!strcmp(kind, "voicemail")) {
        c->subject = gw_arena_printf(arena, "Voicemail from %s", who);
        c->body = gw_arena_printf(
            arena, "Voicemail from %s%s%s at %s.%s%s%s%s", who, name, to, t,
            e->transcript ? "\n\nVoicemail transcript: " : "", e->transcript ? e->transcript : "",
            e->recording_url ? "\nRecording: " : "", e->recording_url ? e->recording_url : "");
    } else if (!strcmp(kind, "ended")) {
        c->subject = gw_arena_printf(
            arena, "Phone call with %s",
            !strcmp(e->direction ? e->direction : "in", "out") && e->to ? e->to : who);
        c->body = gw_arena_printf(arena, "Answered call from %s%s%s, ended at %s%s.", who, name, to,
                                  t, duration_text(arena, e->duration_s));
    } else if (!strcmp(kind, "recording")) {
        c->subject = "Call recording";
        c->body = gw_arena_printf(arena, "Recording of the call%s: %s",
                                  duration_text(arena, e->duration_s),
                                  e->recording_url ? e->recording_url : "");
    } else if (!strcmp(kind, "transcript")) {
        c->subject = "Voicemail transcript";
        c->body =
            gw_arena_printf(arena, "Voicemail transcript: %s", e->transcript ? e->transcript : "");
    } else {
        c->subject = gw_arena_printf(arena, "Call from %s", who);
        c->body =
            gw_arena_printf(arena, "Call from %s%s%s at %s: %s%s.", who, name, to, t, kind, cause);
    }
}

enum gw_err phone_contact_build(const struct phone_settings *s, struct gw_arena *arena,
                                const struct phone_event *ev, struct gw_contact *c,
                                struct gw_http_reply *reply)
{
    struct phone_call *e = gw_arena_alloc(arena, sizeof(*e));
    if (!e) {
        gw_reply_error(reply, arena, 500, "out of memory", NULL);
        return GW_ERR_NOMEM;
    }
    *e = ev->call;
    size_t id_len = e->call_id ? strlen(e->call_id) : 0;
    if (id_len == 0 || id_len > PHONE_CALL_ID_MAX)
        return phone_reject(reply, arena, 422, "a call id of 1 to 128 characters is required",
                            ev->call_id_field);
    for (const unsigned char *p = (const unsigned char *)e->call_id; *p; p++)
        if (*p < 0x21 || *p == 0x7f)
            return phone_reject(reply, arena, 422,
                                "the call id contains spaces or control characters",
                                ev->call_id_field);
    /*
     * The customer's number must be one (else there is nobody to call back);
     * ours may be an extension or a SIP name and is kept only when it is one.
     */
    bool outbound = e->direction && !strcmp(e->direction, "out");
    const char *theirs_raw = outbound ? ev->to_raw : ev->from_raw;
    const char *ours_raw = outbound ? ev->from_raw : ev->to_raw;
    const char *theirs, *ours;
    if (!number(arena, s, theirs_raw, &theirs))
        return phone_reject(reply, arena, 422, "not a phone number", outbound ? "to" : "from");
    if (!number(arena, s, ours_raw, &ours))
        ours = NULL;
    e->from = outbound ? ours : theirs;
    e->to = outbound ? theirs : ours;
    memset(c, 0, sizeof(*c));
    c->channel = PHONE_CHANNEL;
    c->registered_by = &phone_operations[PHONE_OP_CALL_EVENT];
    c->detail = e;
    c->received_at = e->at ? e->at : time(NULL);
    c->idempotency_key = gw_arena_printf(arena, "phone:%s", ev->event_key);
    c->external_ref = gw_arena_printf(arena, "call:%s:%s", e->provider, e->call_id);
    /* Events of one call apply one at a time, in the order they came. */
    c->order_key = gw_arena_printf(arena, "%s:%s", e->provider, e->call_id);
    c->sender.phone = outbound ? e->to : e->from;
    if (!outbound && ev->caller_name && gw_utf8_length(ev->caller_name) <= PHONE_NAME_MAX)
        c->sender.name = ev->caller_name;
    if (!strcmp(e->kind, "missed") || !strcmp(e->kind, "voicemail"))
        c->respond_within_s = s->callback_within_s;
    struct phone_event normalized = *ev;
    normalized.call = *e;
    write_texts(arena, &normalized, c->received_at, c);
    if (!c->idempotency_key || !c->external_ref || !c->order_key || !c->subject || !c->body) {
        gw_reply_error(reply, arena, 500, "out of memory", NULL);
        return GW_ERR_NOMEM;
    }
    return GW_OK;
}

const struct phone_call *phone_call_of(const struct gw_contact *c)
{
    return c->registered_by == &phone_operations[PHONE_OP_CALL_EVENT] ? c->detail : NULL;
}

static void set_str(json_t *o, const char *key, const char *val)
{
    if (val)
        json_object_set_new(o, key, json_string(val));
}

void phone_describe_call(const struct gw_contact *contact, json_t *doc)
{
    const struct phone_call *e = phone_call_of(contact);
    json_t *o = e ? json_object() : NULL;
    if (!o)
        return;
    set_str(o, "provider", e->provider);
    set_str(o, "call_id", e->call_id);
    set_str(o, "kind", e->kind);
    set_str(o, "direction", e->direction);
    set_str(o, "from", e->from);
    set_str(o, "to", e->to);
    set_str(o, "cause", e->cause);
    set_str(o, "recording_url", e->recording_url);
    set_str(o, "transcript", e->transcript);
    if (e->duration_s >= 0)
        json_object_set_new(o, "duration", json_integer(e->duration_s));
    if (e->at)
        json_object_set_new(o, "at", json_integer((json_int_t)e->at));
    json_object_set_new(doc, "call", o);
}
