/* JSON replies in the one shape every endpoint uses. */
#include "gw_reply.h"

#include <stdlib.h>
#include <string.h>

void gw_reply_json(struct gw_http_reply *reply, struct gw_arena *arena, int status, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    reply->status = status;
    reply->content_type = "application/json";
    if (text) {
        reply->body = gw_arena_strdup(arena, text);
        free(text);
    }
    if (!reply->body) {
        /* Out of memory while building a reply: a fixed body still tells the truth. */
        reply->status = 500;
        reply->body = "{\"error\":\"out of memory\"}";
    }
    reply->body_len = strlen(reply->body);
}

void gw_reply_error(struct gw_http_reply *reply, struct gw_arena *arena, int status,
                    const char *message, const char *field)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(message));
    if (field)
        json_object_set_new(o, "field", json_string(field));
    gw_reply_json(reply, arena, status, o);
}

void gw_reply_intake_failure(struct gw_http_reply *reply, struct gw_arena *arena,
                             const struct gw_intake_result *result)
{
    switch (result->err) {
    case GW_ERR_DB_UNAVAILABLE:
    case GW_ERR_BUSY:
    case GW_ERR_SHUTTING_DOWN: {
        /*
         * The database may have committed a contact whose answer was lost
         * with the connection: say so, so that a client retries with the same
         * key instead of giving up or sending it as a new one.
         */
        json_t *o =
            json_pack("{s:s, s:s}", "error",
                      result->detail[0] ? result->detail : gw_strerror(result->err), "retry",
                      "send the same request again after Retry-After, with the same "
                      "idempotency key: it may be stored already, and a retry never "
                      "stores it twice");
        gw_reply_json(reply, arena, 503, o);
        reply->retry_after_s = result->err == GW_ERR_SHUTTING_DOWN ? 5 : 1;
        break;
    }
    case GW_ERR_INVALID:
        gw_reply_error(reply, arena, 422,
                       result->detail[0] ? result->detail : gw_strerror(result->err), NULL);
        break;
    default:
        gw_reply_error(reply, arena, 500, "the contact could not be stored", NULL);
        break;
    }
}
