/* Checks of JSON request bodies; each refusal is a 400 that names the field. */
#ifndef GW_JSON_CHECK_H
#define GW_JSON_CHECK_H

#include <jansson.h>

#include "gw_channel.h"

/* Where a check writes its refusal. */
struct gw_check {
    struct gw_arena *arena;
    struct gw_http_reply *reply;
};

/* Each returns 0 after writing a 400 naming the field, 1 when the value is fine. */
int gw_check_reject(struct gw_check *p, const char *msg, const char *field);
/* "application/json", optionally with parameters. */
int gw_is_json_type(const char *ct);
int gw_is_blank(const char *s);
/* An optional string of at most max_chars (0: any), copied; *out NULL when absent or null. */
int gw_check_opt_string(struct gw_check *p, json_t *obj, const char *key, const char *field,
                        size_t max_chars, const char **out);
/* Refuses the first key of obj not in known (NULL-ended), named prefix + key. */
int gw_check_known_keys(struct gw_check *p, json_t *obj, const char *const *known,
                        const char *prefix);

#endif
