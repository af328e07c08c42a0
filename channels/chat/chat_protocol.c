/*
 * The chat protocol's messages (docs/chat.md): what the widget may send,
 * checked strictly (an unknown field is an error, not a silent loss), and
 * what the gateway sends back. Pure functions, no I/O.
 */
#include <stdio.h>
#include <string.h>

#include "chat.h"
#include "gw_token.h"
#include "gw_validate.h"

static bool fail(struct chat_problem *p, const char *code, const char *reason, const char *field)
{
    p->code = code;
    p->reason = reason;
    p->field = field;
    return false;
}

/* An unknown key is named in the problem: a copy in the arena, since o is freed after. */
static bool only_keys(const json_t *o, const char *const *known, struct gw_arena *arena,
                      struct chat_problem *p)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = !strcmp(*k, key);
        if (!ok)
            return fail(p, "unknown_field", "this message type has no such field",
                        gw_arena_strdup(arena, key));
    }
    return true;
}

/* An optional string field: absent/null gives NULL; anything but a string is an error. */
static bool opt_string(const json_t *o, const char *key, const char **out, struct chat_problem *p)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return fail(p, "invalid_field", "must be a string", key);
    *out = json_string_value(v);
    return true;
}

static bool client_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CHAT_CLIENT_ID_MAX)
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            !strchr("-_.:", *s))
            return false;
    return true;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!strchr(" \t\r\n", *s))
            return false;
    return true;
}

static bool parse_profile(const json_t *profile, struct gw_arena *arena, struct chat_frame *out,
                          struct chat_problem *p)
{
    static const char *const known[] = {"name", "email", "phone", NULL};
    if (!profile || json_is_null(profile))
        return true;
    if (!json_is_object(profile))
        return fail(p, "invalid_field", "must be an object", "profile");
    if (!only_keys(profile, known, arena, p))
        return false;
    const char *name, *email, *phone;
    if (!opt_string(profile, "name", &name, p) || !opt_string(profile, "email", &email, p) ||
        !opt_string(profile, "phone", &phone, p))
        return false;
    if (name && !blank(name)) {
        if (gw_utf8_length(name) > CHAT_NAME_MAX)
            return fail(p, "invalid_field", "a name has at most 100 characters", "name");
        out->name = gw_arena_strdup(arena, name);
    }
    if (email && *email && !(out->email = gw_normalize_email(arena, email)))
        return fail(p, "invalid_field", "not an email address", "email");
    if (phone && *phone && !(out->phone = gw_normalize_phone(arena, phone)))
        return fail(p, "invalid_field",
                    "not a phone number (international form, e.g. +86 138 0013 8000)", "phone");
    return true;
}

static bool parse_hello(const json_t *o, struct gw_arena *arena, struct chat_frame *out,
                        struct chat_problem *p)
{
    static const char *const known[] = {"type", "token", "last_seq", "lang", "profile", NULL};
    if (!only_keys(o, known, arena, p))
        return false;
    const char *token, *lang;
    if (!opt_string(o, "token", &token, p) || !opt_string(o, "lang", &lang, p))
        return false;
    if (token) {
        size_t n = strlen(token);
        if (n < 16 || n > 128 ||
            strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789-_") != n)
            return fail(p, "invalid_field", "not a session token", "token");
        out->token = gw_arena_strdup(arena, token);
    }
    const json_t *seq = json_object_get(o, "last_seq");
    if (seq && (!json_is_integer(seq) || json_integer_value(seq) < 0))
        return fail(p, "invalid_field", "must be a whole number, 0 or more", "last_seq");
    out->last_seq = seq ? (long long)json_integer_value(seq) : 0;
    if (lang)
        out->language = !strncasecmp(lang, "zh", 2) ? "zh" : "en";
    return parse_profile(json_object_get(o, "profile"), arena, out, p);
}

static bool parse_message(const json_t *o, struct gw_arena *arena, struct chat_frame *out,
                          struct chat_problem *p)
{
    static const char *const known[] = {"type", "client_id", "text", NULL};
    if (!only_keys(o, known, arena, p))
        return false;
    const char *id, *text;
    if (!opt_string(o, "client_id", &id, p) || !opt_string(o, "text", &text, p))
        return false;
    if (!id || !client_id_ok(id))
        return fail(p, "invalid_field", "1-64 letters, digits or -_.: naming this message",
                    "client_id");
    out->client_id = gw_arena_strdup(arena, id);
    if (!text || blank(text))
        return fail(p, "invalid_field", "a message needs text", "text");
    if (gw_utf8_length(text) > CHAT_TEXT_MAX)
        return fail(p, "too_long", "a message has at most 4000 characters", "text");
    out->text = gw_arena_strdup(arena, text);
    return out->client_id && out->text;
}

bool chat_parse_frame(const char *data, size_t len, struct gw_arena *arena, struct chat_frame *out,
                      struct chat_problem *p)
{
    memset(out, 0, sizeof(*out));
    memset(p, 0, sizeof(*p));
    if (!gw_utf8_valid(data, len))
        return fail(p, "invalid_json", "a message must be UTF-8 JSON", NULL);
    json_error_t err;
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (!o)
        return fail(p, "invalid_json", "a message must be one JSON object", NULL);
    bool ok;
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!json_is_object(o))
        ok = fail(p, "invalid_json", "a message must be one JSON object", NULL);
    else if (!type)
        ok = fail(p, "invalid_field", "every message names its type", "type");
    else if (!strcmp(type, "hello")) {
        out->type = CHAT_HELLO;
        ok = parse_hello(o, arena, out, p);
    } else if (!strcmp(type, "message")) {
        out->type = CHAT_MESSAGE;
        ok = parse_message(o, arena, out, p);
    } else if (!strcmp(type, "typing") || !strcmp(type, "close")) {
        static const char *const known[] = {"type", NULL};
        out->type = !strcmp(type, "typing") ? CHAT_TYPING : CHAT_CLOSE;
        ok = only_keys(o, known, arena, p);
    } else
        ok = fail(p, "unknown_type", "no such message type", "type");
    json_decref(o);
    return ok;
}

static char *dump(struct gw_arena *arena, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    char *copy = text ? gw_arena_strdup(arena, text) : NULL;
    free(text);
    json_decref(o);
    return copy;
}

char *chat_error_json(struct gw_arena *arena, const struct chat_problem *p, const char *client_id)
{
    return dump(arena, json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "type", "error", "code", p->code,
                                 "reason", p->reason, "field", p->field, "client_id", client_id));
}

char *chat_notice_text(struct gw_arena *arena, const json_t *ev)
{
    const char *ticket = json_string_value(json_object_get(ev, "ticket"));
    const char *lang = json_string_value(json_object_get(ev, "language"));
    const char *name = json_string_value(json_object_get(ev, "name"));
    const char *notice = json_string_value(json_object_get(ev, "notice"));
    json_int_t due = json_integer_value(json_object_get(ev, "first_response_s"));
    long minutes = due > 0 ? (long)(due + 59) / 60 : 15;
    bool reopened = notice && !strcmp(notice, "reopened");
    if (lang && !strcmp(lang, "zh"))
        return gw_arena_printf(arena,
                               "%s%s您好！我们已%s您的请求，工单号 %s。客服会在 %ld 分钟内"
                               "在这里回复您（最迟不超过 24 小时）。如果您离开，我们会通过您"
                               "留下的邮箱或电话回复。",
                               name ? name : "", name ? "，" : "", reopened ? "重新打开" : "收到",
                               ticket ? ticket : "?", minutes);
    return gw_arena_printf(arena,
                           "Hello%s%s, we have %s your request: ticket %s. An agent will answer "
                           "here within %ld minutes (at the latest within 24 hours). If you "
                           "leave, we will answer at the email or phone you gave.",
                           name ? " " : "", name ? name : "", reopened ? "reopened" : "received",
                           ticket ? ticket : "?", minutes);
}

char *chat_event_json(struct gw_arena *arena, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *notice = json_string_value(json_object_get(ev, "notice"));
    if (type && !strcmp(type, "notice") && notice &&
        (!strcmp(notice, "received") || !strcmp(notice, "reopened"))) {
        const char *text = chat_notice_text(arena, ev);
        if (text)
            json_object_set_new(ev, "text", json_string(text));
    }
    json_incref(ev);
    return dump(arena, ev);
}

bool chat_new_visitor(char *out, size_t cap)
{
    if (cap < 15)
        return false;
    out[0] = 'v';
    out[1] = '-';
    return gw_token_random(out + 2, cap - 2, 9);
}
