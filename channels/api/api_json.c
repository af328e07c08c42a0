/*
 * The API channel's JSON field checks, shared by its endpoints: each refusal
 * is a 400 naming the field, because a silently dropped field is a lost
 * detail of a request.
 */
#include <string.h>

#include "api.h"
#include "gw_reply.h"
#include "gw_validate.h"

int api_reject(struct api_parse *p, const char *msg, const char *field)
{
    gw_reply_error(p->reply, p->arena, 400, msg, field);
    return 0;
}

/* "application/json", optionally with parameters; a missing type is taken as JSON. */
int api_is_json_type(const char *ct)
{
    static const char json[] = "application/json";
    if (strncasecmp(ct, json, sizeof(json) - 1))
        return 0;
    char next = ct[sizeof(json) - 1];
    return next == '\0' || next == ';' || next == ' ';
}

int api_is_blank(const char *s)
{
    for (; *s; s++)
        if (!strchr(" \t\r\n", *s))
            return 0;
    return 1;
}

/*
 * An optional string field copied into the arena (*out stays NULL when
 * absent or null). Returns 0 after writing a rejection.
 */
int api_opt_string(struct api_parse *p, json_t *obj, const char *key, const char *field,
                   size_t max_chars, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_string(v))
        return api_reject(p, "must be a string", field);
    const char *s = json_string_value(v);
    if (max_chars && gw_utf8_length(s) > max_chars)
        return api_reject(p, "too long", field);
    *out = gw_arena_strndup(p->arena, s, json_string_length(v));
    if (!*out)
        return api_reject(p, "out of memory", field);
    return 1;
}

int api_only_known_keys(struct api_parse *p, json_t *obj, const char *const *known,
                        const char *prefix)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            ok |= !strcmp(*k, key);
        if (!ok) {
            const char *field = gw_arena_printf(p->arena, "%s%s", prefix, key);
            return api_reject(p, "unknown field", field ? field : key);
        }
    }
    return 1;
}
