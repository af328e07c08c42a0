/*
 * The REST side of a person's data, for supervisors (and tools with the API
 * token); plain agents and leads are refused 403 by the database:
 *
 *   GET  /v1/customers/{number}/export   a zip (customer.json, sources/,
 *        attachments/), or with Accept: application/json the JSON document
 *   POST /v1/customers/{number}/erase    {"confirm": "{number}"}: no undo
 *   GET  /v1/audit                       ?after= &limit=, newest first
 *
 * All three run as DESK_OP_PRIVACY, an operation of its own lane (a worker
 * and connection apart from registration): a big customer's export reads
 * for seconds, and no contact must wait behind it. The zip is put together
 * by that worker too (the operation's finish hook), from what the database
 * sent: its files are stored without compression (mail and attachments
 * barely shrink, and storing costs a copy and a CRC), and the files an API
 * export may carry are capped (EXPORT_FILES_MAX: the command line writes
 * any size to a file).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_json_check.h"
#include "gw_reply.h"

#define EXPORT_FILES_MAX (64LL * 1024 * 1024)
#define CONFIRM_MAX      64

static bool refuse(struct gw_http_reply *reply, struct gw_arena *arena, int status, const char *msg,
                   const char *field)
{
    gw_reply_error(reply, arena, status, msg, field);
    return false;
}

/* Whether the caller asked for the JSON document rather than the zip. */
static bool wants_json(const struct gw_http_request *req)
{
    const char *accept = req->header(req, "accept");
    return accept && strstr(accept, "application/json") && !strstr(accept, "application/zip");
}

/* ?after=ID&limit=N of the audit page into doc; false after a refusal. */
static bool audit_query(const char *query, json_t *doc, struct gw_arena *arena,
                        struct gw_http_reply *reply)
{
    char *copy = query ? gw_arena_strdup(arena, query) : NULL;
    char *save = NULL;
    for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        const char *value = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        char *end;
        long long n = strtoll(value, &end, 10);
        bool digits = *value && strspn(value, "0123456789") == strlen(value) && strlen(value) <= 18;
        if (!strcmp(kv, "after")) {
            if (!digits || n < 1)
                return refuse(reply, arena, 400, "invalid value", "after");
            json_object_set_new(doc, "after", json_string(value));
        } else if (!strcmp(kv, "limit")) {
            if (!digits || n < 1 || n > 200)
                return refuse(reply, arena, 400, "invalid value", "limit");
            json_object_set_new(doc, "limit", json_integer(n));
        } else {
            return refuse(reply, arena, 400, "unknown query parameter", kv);
        }
    }
    return true;
}

/* POST .../erase's body: {"confirm": the path's number}; false after a refusal. */
static bool erase_confirmed(const struct gw_http_request *req, const char *number,
                            struct gw_arena *arena, struct gw_http_reply *reply)
{
    json_t *body = desk_api_body(req, arena, reply);
    if (!body)
        return false;
    static const char *const known[] = {"confirm", NULL};
    struct gw_check p = {arena, reply};
    const char *confirm = NULL;
    bool ok = gw_check_known_keys(&p, body, known, "") &&
              gw_check_opt_string(&p, body, "confirm", "confirm", CONFIRM_MAX, &confirm);
    if (ok && (!confirm || strcmp(confirm, number)))
        ok = refuse(reply, arena, 400,
                    "erasing cannot be undone: repeat the customer number as \"confirm\"",
                    "confirm");
    json_decref(body);
    return ok;
}

/* Fills doc from the path; false after a refusal. */
static bool route(const struct gw_http_request *req, json_t *doc, struct gw_arena *arena,
                  struct gw_http_reply *reply)
{
    if (!strcmp(req->path, "/v1/audit")) {
        json_object_set_new(doc, "action", json_string("audit"));
        return audit_query(req->query, doc, arena, reply);
    }
    const char *num = req->path + strlen("/v1/customers/");
    const char *slash = strchr(num, '/');
    size_t n = slash ? (size_t)(slash - num) : 0;
    bool get = !strcmp(req->method, "GET");
    if (!slash || !desk_is_ticket_number(num, n) || strcmp(slash + 1, get ? "export" : "erase"))
        return refuse(reply, arena, 404,
                      "no such endpoint; GET /v1/customers/{number}/export or POST "
                      "/v1/customers/{number}/erase",
                      NULL);
    char *number = gw_arena_strdup(arena, num);
    if (!number)
        return refuse(reply, arena, 500, "out of memory", NULL);
    number[n] = '\0';
    json_object_set_new(doc, "customer", json_string(number));
    if (get) {
        json_object_set_new(doc, "action", json_string("export"));
        if (req->query && *req->query)
            return refuse(reply, arena, 400, "unknown query parameter", req->query);
        if (!wants_json(req)) {
            json_object_set_new(doc, "files", json_true());
            json_object_set_new(doc, "files_max", json_integer(EXPORT_FILES_MAX));
        }
        return true;
    }
    json_object_set_new(doc, "action", json_string("erase"));
    return erase_confirmed(req, number, arena, reply);
}

bool desk_privacy_answer(const struct gw_http_request *req, struct gw_arena *arena,
                         struct gw_intake_job *job, struct gw_http_reply *reply)
{
    json_t *doc = json_object();
    const char *auth = req->header(req, "authorization");
    if (!doc || !auth || strncasecmp(auth, "Bearer ", 7) ||
        !desk_add_caller(doc, auth + 7, req->config)) {
        json_decref(doc);
        gw_reply_error(reply, arena, 401, "an agent token (Authorization: Bearer ...) is required",
                       NULL);
        reply->www_authenticate = "Bearer";
        return false;
    }
    if (!route(req, doc, arena, reply)) {
        json_decref(doc);
        return false;
    }
    if (!desk_submit_document(job, arena, DESK_OP_PRIVACY, doc))
        return refuse(reply, arena, 500, "out of memory", NULL);
    return true;
}

/* The export's document and files as a zip, its bytes in the arena; NULL when it could not be made.
 */
static void *zip_of(const json_t *body, const json_t *files, struct gw_arena *arena, size_t *len)
{
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t *buffer = zip_source_buffer_create(NULL, 0, 0, &error);
    zip_t *z = buffer ? zip_open_from_source(buffer, ZIP_TRUNCATE, &error) : NULL;
    zip_error_fini(&error);
    if (!z) {
        zip_source_free(buffer);
        return NULL;
    }
    zip_source_keep(buffer); /* zip_close frees the archive; the bytes stay in the buffer */
    char *text = json_dumps(body, JSON_INDENT(2));
    bool ok = text && desk_zip_add(z, "customer.json", text, strlen(text));
    free(text);
    size_t i;
    const json_t *f;
    json_array_foreach(files, i, f)
    {
        ok = ok && desk_zip_add_file(z, f);
    }
    /* Every entry after customer.json (the first) is stored as it is. */
    for (zip_int64_t e = 1; ok && e < zip_get_num_entries(z, 0); e++)
        ok = zip_set_file_compression(z, (zip_uint64_t)e, ZIP_CM_STORE, 0) == 0;
    if (!ok || zip_close(z) != 0) {
        if (!ok)
            zip_discard(z);
        zip_source_free(buffer);
        return NULL;
    }
    zip_stat_t st;
    char *bytes = NULL;
    if (zip_source_stat(buffer, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
        zip_source_open(buffer) == 0) {
        bytes = gw_arena_alloc(arena, st.size ? st.size : 1);
        if (bytes && zip_source_read(buffer, bytes, st.size) != (zip_int64_t)st.size)
            bytes = NULL;
        zip_source_close(buffer);
    }
    zip_source_free(buffer);
    *len = bytes ? st.size : 0;
    return bytes;
}

/*
 * On the worker, after the commit: an export that came with its files
 * becomes the zip's bytes (parsing tens of megabytes of base64 and packing
 * them would stall the event loop and every connection on it).
 */
void desk_privacy_finish(struct gw_intake_result *r, struct gw_arena *arena)
{
    json_t *answer = r->document ? json_loads(r->document, 0, NULL) : NULL;
    const json_t *files = json_object_get(answer, "files");
    if (json_is_array(files)) {
        r->body = zip_of(json_object_get(answer, "body"), files, arena, &r->body_len);
        r->content_type = "application/zip";
        r->document =
            r->body ? NULL : "{\"status\": 500, \"error\": \"the archive could not be made\"}";
    }
    json_decref(answer);
}

void desk_privacy_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                          struct gw_http_reply *reply)
{
    if (r->err == GW_OK && r->body) {
        reply->status = 200;
        reply->content_type = r->content_type;
        reply->body = r->body;
        reply->body_len = r->body_len;
    } else {
        desk_api_respond(r, arena, reply);
    }
    /* Personal data: no cache along the way keeps a copy. */
    reply->cache_control = "no-store";
}
