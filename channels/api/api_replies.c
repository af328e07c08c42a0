/*
 * POST /v1/tickets/{number}/replies: an agent's (or an agent tool's) answer
 * on a ticket, for systems holding the API token. It is stored as an
 * outbound message and stops the first-response clock; a customer in a live
 * chat on the ticket sees it at once, on whichever gateway their socket is.
 * {"text": ..., "agent": ..., "key": ...}; key makes a retry harmless.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gw_reply.h"
#include "gw_validate.h"

#define PREFIX     "/v1/tickets/"
#define SUFFIX     "/replies"
#define TICKET_MAX 31
#define REPLY_MAX  20000 /* characters */
#define AGENT_MAX  100
#define KEY_MAX    200

static bool reject(struct gw_http_reply *reply, struct gw_arena *arena, int status, const char *msg,
                   const char *field)
{
    gw_reply_error(reply, arena, status, msg, field);
    return false;
}

/* The ticket number between the prefix and "/replies", or NULL. */
static char *ticket_of(const char *path, struct gw_arena *arena)
{
    const char *start = path + strlen(PREFIX);
    const char *end = strstr(start, SUFFIX);
    if (!end || strcmp(end, SUFFIX) || end == start || (size_t)(end - start) > TICKET_MAX)
        return NULL;
    for (const char *p = start; p < end; p++)
        if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') &&
            *p != '-' && *p != '_')
            return NULL;
    return gw_arena_strndup(arena, start, (size_t)(end - start));
}

bool api_answer_reply(const struct gw_http_request *req, struct gw_arena *arena,
                      struct gw_intake_job *job, struct gw_http_reply *reply)
{
    const char *ticket = ticket_of(req->path, arena);
    if (!ticket)
        return reject(reply, arena, 404, "no such endpoint; POST /v1/tickets/{number}/replies",
                      NULL);
    if (!gw_utf8_valid((const char *)req->body, req->body_len))
        return reject(reply, arena, 400, "the body must be UTF-8 JSON", NULL);
    json_error_t err;
    json_t *o = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(o)) {
        json_decref(o);
        return reject(reply, arena, 400, "the body must be one JSON object", NULL);
    }
    static const char *const known[] = {"text", "agent", "key", NULL};
    struct api_parse p = {arena, reply};
    const char *text, *agent, *key;
    bool ok = api_only_known_keys(&p, o, known, "") &&
              api_opt_string(&p, o, "text", "text", REPLY_MAX, &text) &&
              api_opt_string(&p, o, "agent", "agent", AGENT_MAX, &agent) &&
              api_opt_string(&p, o, "key", "key", KEY_MAX, &key);
    if (ok && (!text || api_is_blank(text)))
        ok = reject(reply, arena, 400, "a reply needs text", "text");
    json_t *doc = ok ? json_pack("{s:s, s:s, s:s?, s:s?}", "ticket", ticket, "text", text, "agent",
                                 agent, "key", key)
                     : NULL;
    char *dumped = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    json_decref(o);
    if (!ok)
        return false;
    job->kind = GW_JOB_OPERATION;
    job->operation = GW_OP_TICKET_REPLY;
    job->document = dumped ? gw_arena_strdup(arena, dumped) : NULL;
    free(dumped);
    if (!job->document)
        return reject(reply, arena, 500, "out of memory", NULL);
    return true;
}

void api_respond_reply(const struct gw_intake_result *r, struct gw_arena *arena,
                       struct gw_http_reply *reply)
{
    json_t *answer = r->document ? json_loads(r->document, 0, NULL) : NULL;
    if (r->err != GW_OK || !answer) {
        gw_reply_intake_failure(reply, arena, r);
    } else if (!json_is_true(json_object_get(answer, "found"))) {
        gw_reply_error(reply, arena, 404, "no such ticket", NULL);
    } else {
        bool dup = json_is_true(json_object_get(answer, "duplicate"));
        json_object_del(answer, "found");
        gw_reply_json(reply, arena, dup ? 200 : 201, json_incref(answer));
    }
    json_decref(answer);
}
