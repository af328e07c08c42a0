/*
 * The chat channel's settings ("channels": {"chat": {...}}). Only pages from
 * the allowed origins may open a chat socket: by default the gateway's own
 * (public_url), which is where the demo page lives.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "gw_config.h"

#define DEFAULT_SESSION_RATE  30
#define DEFAULT_ADDRESS_RATE  120
#define DEFAULT_HELLO_TIMEOUT 10
#define DEFAULT_INVALID       3

static int int_or(const json_t *sec, const char *key, int fallback)
{
    const json_t *v = json_object_get(sec, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : fallback;
}

/* "scheme://host[:port]" of a URL: what a browser sends as Origin. */
static char *origin_of(const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p)
        return NULL;
    size_t n = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
    return strndup(url, n);
}

void chat_settings_read(const struct gw_config *cfg, struct chat_settings *s)
{
    const json_t *sec = gw_config_channel(cfg, CHAT_CHANNEL);
    const json_t *origins = json_object_get(sec, "allowed_origins");
    memset(s, 0, sizeof(*s));
    size_t n = json_is_array(origins) ? json_array_size(origins) : 0;
    s->origins = calloc(n + 1, sizeof(*s->origins));
    if (s->origins) {
        for (size_t i = 0; i < n; i++) {
            const char *o = json_string_value(json_array_get(origins, i));
            if (o && (s->origins[s->n_origins] = strdup(o)))
                s->n_origins++;
        }
        if (!json_is_array(origins) && (s->origins[0] = origin_of(cfg->public_url)))
            s->n_origins = 1;
    }
    s->session_per_minute = int_or(sec, "messages_per_minute", DEFAULT_SESSION_RATE);
    s->address_per_minute = int_or(sec, "messages_per_minute_per_address", DEFAULT_ADDRESS_RATE);
    s->hello_timeout_s = int_or(sec, "hello_timeout_seconds", DEFAULT_HELLO_TIMEOUT);
    s->invalid_before_close = int_or(sec, "invalid_messages_before_close", DEFAULT_INVALID);
}

void chat_settings_free(struct chat_settings *s)
{
    for (size_t i = 0; i < s->n_origins; i++)
        free(s->origins[i]);
    free(s->origins);
    memset(s, 0, sizeof(*s));
}

bool chat_origin_allowed(const struct chat_settings *s, const char *origin)
{
    for (size_t i = 0; i < s->n_origins; i++)
        if (!strcmp(s->origins[i], "*") || (origin && !strcasecmp(s->origins[i], origin)))
            return true;
    return false;
}

static void check_range(const json_t *sec, const char *key, long lo, long hi,
                        struct gw_problems *pr)
{
    const json_t *v = json_object_get(sec, key);
    if (v && (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi))
        gw_problems_add(pr, "channels.chat.%s: must be %ld..%ld", key, lo, hi);
}

void chat_check_config(const json_t *sec, struct gw_problems *pr)
{
    static const char *const known[] = {
        "allowed_origins",       "messages_per_minute",           "messages_per_minute_per_address",
        "hello_timeout_seconds", "invalid_messages_before_close", NULL};
    if (!sec)
        return;
    gw_problems_unknown_keys(pr, sec, known, "channels.chat");
    const json_t *origins = json_object_get(sec, "allowed_origins");
    if (origins) {
        size_t i;
        const json_t *o;
        if (!json_is_array(origins))
            gw_problems_add(pr, "channels.chat.allowed_origins: must be a list of origins");
        json_array_foreach(origins, i, o)
        {
            const char *v = json_string_value(o);
            const char *host = v ? strstr(v, "://") : NULL;
            bool web = v && (!strncmp(v, "http://", 7) || !strncmp(v, "https://", 8));
            bool ok = v && (!strcmp(v, "*") || (web && host[3] && !strchr(host + 3, '/')));
            if (!ok)
                gw_problems_add(pr,
                                "channels.chat.allowed_origins[%zu]: must be \"*\" or "
                                "scheme://host[:port] with no path",
                                i);
        }
    }
    check_range(sec, "messages_per_minute", 1, 10000, pr);
    check_range(sec, "messages_per_minute_per_address", 1, 1000000, pr);
    check_range(sec, "hello_timeout_seconds", 1, 300, pr);
    check_range(sec, "invalid_messages_before_close", 1, 100, pr);
}
