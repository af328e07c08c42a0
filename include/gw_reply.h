/*
 * Helpers every route uses to answer: JSON error bodies of the one shape
 * {"error": ..., "field": ...} and JSON success bodies.
 */
#ifndef GW_REPLY_H
#define GW_REPLY_H

#include <jansson.h>

#include "gw_channel.h"

/* status + {"error": message, "field": field-or-absent}, arena-owned. */
void gw_reply_error(struct gw_http_reply *reply, struct gw_arena *arena, int status,
                    const char *message, const char *field);
/* status + the JSON object (stolen: this decrefs it). */
void gw_reply_json(struct gw_http_reply *reply, struct gw_arena *arena, int status, json_t *obj);
/* The standard reply for a registration that failed: 503 + Retry-After or 500. */
void gw_reply_intake_failure(struct gw_http_reply *reply, struct gw_arena *arena,
                             const struct gw_intake_result *result);

#endif
