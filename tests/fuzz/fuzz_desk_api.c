/*
 * Fuzz target for the desk's REST API (desk/desk_api.c): what an agent's
 * tool sends to GET /v1/tickets?... and POST /v1/tickets/{n}/replies, notes,
 * status, transfer, escalate, claim (and presence, follow-ups) becomes
 * either one well-formed operation document for the database or a 4xx with
 * a reason; never a crash, leak or undefined behaviour. desk_api_answer is
 * already pure (it builds the document; the database runs it later), so the
 * target calls it as the core does, after the core's own routing.
 *
 * Input: the request line "METHOD /path?query", a newline, then the body,
 * so one corpus covers the routes, the list's query and every action's
 * body. The fixtures (tests/fixtures/desk_api/) are requests of that shape.
 * Built like the other fuzz targets (see fuzz_api_parse.c).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_arena.h"
#include "fuzz_common.h"
#include "gw_config.h"

extern const struct gw_channel gw_channel_desk;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *header(const struct gw_http_request *req, const char *name)
{
    (void)req;
    return !strcmp(name, "authorization") ? "Bearer an-agent-token-for-fuzzing" : NULL;
}

/* The core's routing: the desk's REST route for method and path, or NULL. */
static const struct gw_route *route_for(const char *method, const char *path)
{
    for (size_t i = 0; i < gw_channel_desk.n_routes; i++) {
        const struct gw_route *r = &gw_channel_desk.routes[i];
        size_t n = strlen(r->path);
        if (r->answer != desk_api_answer || strcmp(r->method, method))
            continue;
        if (r->path_prefix ? !strncmp(path, r->path, n) && path[n] : !strcmp(path, r->path))
            return r;
    }
    return NULL;
}

/* Every parameter of an accepted list query is in the document: none silently dropped. */
static void check_query(const char *query, json_t *doc, struct gw_arena *arena)
{
    char *copy = gw_arena_strdup(arena, query ? query : "");
    char *save = NULL;
    for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
        kv[strcspn(kv, "=")] = '\0';
        if (!json_object_get(doc, kv))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct gw_config *cfg = fuzz_default_config();
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    struct gw_arena *arena = gw_arena_create(4096);
    char *line = gw_arena_strndup(arena, (const char *)data, (size_t)(nl - data));
    char *space = strchr(line, ' ');
    if (!space) {
        gw_arena_destroy(arena);
        return 0;
    }
    *space = '\0';
    char *path = space + 1, *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    const struct gw_route *r = route_for(line, path);
    if (!r) {
        gw_arena_destroy(arena);
        return 0;
    }
    size_t body_len = size - (size_t)(nl + 1 - data);
    struct gw_http_request req = {
        .method = r->method,
        .path = path,
        .query = query,
        .content_type = "application/json",
        .body = body_len ? nl + 1 : NULL,
        .body_len = body_len,
        .header = header,
        .config = cfg,
    };
    struct gw_intake_job job;
    struct gw_http_reply reply;
    memset(&job, 0, sizeof(job));
    memset(&reply, 0, sizeof(reply));
    if (r->answer(&req, arena, &job, &reply)) {
        /* One JSON object with its action and the caller, for intake_desk(). */
        json_t *doc = job.document ? json_loads(job.document, 0, NULL) : NULL;
        if (!json_is_object(doc) || !json_string_value(json_object_get(doc, "action")) ||
            !json_object_get(doc, "token_hash") ||
            job.operation !=
                &desk_operations[strcmp(r->method, "GET") ? DESK_OP_DESK : DESK_OP_DESK_READ])
            abort();
        if (!strcmp(json_string_value(json_object_get(doc, "action")), "list"))
            check_query(query, doc, arena);
        json_decref(doc);
    } else if (reply.status < 400 || reply.status > 499 || !reply.body) {
        abort();
    }
    gw_arena_destroy(arena);
    return 0;
}
