/*
 * JSON field checks shared by the routes that take JSON bodies: each
 * refusal is a 400 naming the field, because a silently dropped field is a
 * lost detail of a request.
 */
#include <string.h>

#include "gw_json_check.h"
#include "gw_reply.h"
#include "gw_validate.h"

int gw_check_reject(struct gw_check *p, const char *msg, const char *field)
{
    gw_reply_error(p->reply, p->arena, 400, msg, field);
    return 0;
}

/* "application/json", optionally with parameters; a missing type is taken as JSON. */
int gw_is_json_type(const char *ct)
{
    static const char json[] = "application/json";
    if (strncasecmp(ct, json, sizeof(json) - 1))
        return 0;
    char next = ct[sizeof(json) - 1];
    return next == '\0' || next == ';' || next == ' ';
}

int gw_is_blank(const char *s)
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
int gw_check_opt_string(struct gw_check *p, json_t *obj, const char *key, const char *field,
                        size_t max_chars, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_string(v))
        return gw_check_reject(p, "must be a string", field);
    const char *s = json_string_value(v);
    if (max_chars && gw_utf8_length(s) > max_chars)
        return gw_check_reject(p, "too long", field);
    *out = gw_arena_strndup(p->arena, s, json_string_length(v));
    if (!*out)
        return gw_check_reject(p, "out of memory", field);
    return 1;
}

int gw_check_known_keys(struct gw_check *p, json_t *obj, const char *const *known,
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
            return gw_check_reject(p, "unknown field", field ? field : key);
        }
    }
    return 1;
}
