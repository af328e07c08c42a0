/* The API channel's parts (api_channel.c: contacts; api_replies.c: replies on tickets). */
#ifndef API_H
#define API_H

#include "gw_channel.h"

/* Where a check writes its refusal. */
struct api_parse {
    struct gw_arena *arena;
    struct gw_http_reply *reply;
};

/* Each returns 0 after writing a 400 naming the field, 1 when the value is fine. */
int api_reject(struct api_parse *p, const char *msg, const char *field);
/* "application/json", optionally with parameters. */
int api_is_json_type(const char *ct);
int api_is_blank(const char *s);
/* An optional string of at most max_chars (0: any), copied; *out NULL when absent or null. */
int api_opt_string(struct api_parse *p, json_t *obj, const char *key, const char *field,
                   size_t max_chars, const char **out);
/* Refuses the first key of obj not in known (NULL-ended), named prefix + key. */
int api_only_known_keys(struct api_parse *p, json_t *obj, const char *const *known,
                        const char *prefix);

bool api_answer_reply(const struct gw_http_request *req, struct gw_arena *arena,
                      struct gw_intake_job *job, struct gw_http_reply *reply);
void api_respond_reply(const struct gw_intake_result *r, struct gw_arena *arena,
                       struct gw_http_reply *reply);

#endif
