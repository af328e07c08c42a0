/*
 * The desk's REST API. Every request becomes one intake_desk() call (one
 * transaction, which also checks the agent's token); this file only checks
 * the shape of what was sent, so that the database sees well-formed
 * documents and the caller learns exactly which field was wrong. GETs run
 * on the intake's read lane (gw_operation.read_lane): they never wait
 * behind a batch of contacts or for the WAL flush of a view's audit row.
 *
 *   GET  /v1/tickets                  ?queue= &status=a,b &priority= &assignee=me|none|id
 *                                     &overdue= &limit= &after= (the page before's "next")
 *                                     &overdue=true &limit=
 *                                     and the report filters of report_list.c
 *   GET  /v1/tickets/{number}
 *   POST /v1/tickets/{number}/claim | transfer | replies | notes | status | escalate
 *   GET  /v1/agent/me                 POST /v1/agent/presence
 *   GET  /v1/search                   ?q= &limit= &after= (desk_search.c)
 *   GET  /v1/followups                ?all=true
 *   POST /v1/followups/{id}/close
 *
 * docs/openapi.json describes each; the tests check the server against it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_json_check.h"
#include "gw_log.h"
#include "gw_reply.h"
#include "gw_validate.h"

#define TICKET_MAX 31
#define TEXT_MAX   20000 /* characters of a reply or a note */
#define SHORT_MAX  2000

static bool refuse(struct gw_http_reply *reply, struct gw_arena *arena, int status, const char *msg,
                   const char *field)
{
    gw_reply_error(reply, arena, status, msg, field);
    if (status == 401)
        reply->www_authenticate = "Bearer";
    return false;
}

bool desk_is_ticket_number(const char *s, size_t n)
{
    if (n == 0 || n > TICKET_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]))
            return false;
    return true;
}

static bool one_of(const char *s, const char *const *allowed)
{
    for (; s && *allowed; allowed++)
        if (!strcmp(s, *allowed))
            return true;
    return false;
}

static const char *const statuses_all[] = {"new", "open", "pending", "resolved", "closed", NULL};
static const char *const priorities[] = {"urgent", "important", "normal", NULL};

/* "a,b,c" of known statuses into a JSON list; false on an unknown one. */
static bool status_list(const char *value, json_t *doc)
{
    json_t *list = json_array();
    char *copy = strdup(value);
    bool ok = list && copy && *value;
    char *save = NULL;
    for (char *s = copy ? strtok_r(copy, ",", &save) : NULL; ok && s;
         s = strtok_r(NULL, ",", &save)) {
        ok = one_of(s, statuses_all);
        json_array_append_new(list, json_string(s));
    }
    free(copy);
    if (ok)
        json_object_set_new(doc, "status", list);
    else
        json_decref(list);
    return ok;
}

/* One "key=value" of a list query (lws has already decoded it) into doc. */
static bool list_filter(const char *key, const char *value, json_t *doc, const char **bad)
{
    *bad = key;
    if (!strcmp(key, "queue")) {
        if (strlen(value) > 31)
            return false;
        json_object_set_new(doc, "queue", json_string(value));
    } else if (!strcmp(key, "status")) {
        return status_list(value, doc);
    } else if (!strcmp(key, "priority")) {
        if (!one_of(value, priorities))
            return false;
        json_object_set_new(doc, "priority", json_string(value));
    } else if (!strcmp(key, "assignee")) {
        bool digits = *value && strlen(value) <= 18 && strspn(value, "0123456789") == strlen(value);
        if (strcmp(value, "me") && strcmp(value, "none") && !digits)
            return false;
        json_object_set_new(doc, "assignee", json_string(value));
    } else if (!strcmp(key, "after")) {
        /* The "next" of the page before: "<seconds since 1970>:<ticket id>",
         * after "f:" within finished work. */
        const char *cursor = value;
        if (!strncmp(value, "f:", 2))
            value += 2;
        const char *colon = strchr(value, ':');
        size_t head = colon ? (size_t)(colon - value) : 0;
        bool ok = colon && head > 0 && head <= 24 &&
                  (strspn(value, "0123456789.") == head || !strncmp(value, "Infinity", head)) &&
                  colon[1] && strlen(colon + 1) <= 18 &&
                  strspn(colon + 1, "0123456789") == strlen(colon + 1);
        if (!ok)
            return false;
        json_object_set_new(doc, "after", json_string(cursor));
    } else if (!strcmp(key, "overdue") || !strcmp(key, "all")) {
        if (strcmp(value, "true") && strcmp(value, "false"))
            return false;
        json_object_set_new(doc, key, json_boolean(!strcmp(value, "true")));
    } else if (!strcmp(key, "limit")) {
        char *end;
        long n = strtol(value, &end, 10);
        if (*end || n < 1 || n > 200)
            return false;
        json_object_set_new(doc, "limit", json_integer(n));
    } else {
        int taken = desk_report_filter(key, value, doc);
        if (taken < 0)
            *bad = NULL; /* unknown parameter */
        return taken > 0;
    }
    return true;
}

/* The list's own parameters; the report filters (report_list.c) come on top. */
static const char *const list_params[] = {"queue",   "status", "priority", "assignee",
                                          "overdue", "limit",  "after",    NULL};

static bool parse_query(const char *query, const char *const *allowed, json_t *doc,
                        struct gw_arena *arena, struct gw_http_reply *reply)
{
    if (!query || !*query)
        return true;
    char *copy = gw_arena_strdup(arena, query);
    char *save = NULL;
    for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        const char *value = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        const char *bad;
        if (!one_of(kv, allowed) &&
            (allowed[0] != list_params[0] || !one_of(kv, desk_report_filter_names)))
            return refuse(reply, arena, 400, "unknown query parameter", kv);
        /* lws decoded %XX: a value that is not UTF-8 would be dropped by json_string(). */
        if (!gw_utf8_valid(value, strlen(value)))
            return refuse(reply, arena, 400, "invalid value", kv);
        if (!list_filter(kv, value, doc, &bad))
            return refuse(reply, arena, 400, "invalid value", bad ? bad : kv);
    }
    return true;
}

json_t *desk_api_body(const struct gw_http_request *req, struct gw_arena *arena,
                      struct gw_http_reply *reply)
{
    if (req->body_len == 0)
        return json_object();
    if (req->content_type && !gw_is_json_type(req->content_type)) {
        refuse(reply, arena, 415, "the body must be application/json", NULL);
        return NULL;
    }
    if (!gw_utf8_valid((const char *)req->body, req->body_len)) {
        refuse(reply, arena, 400, "the body must be UTF-8 JSON", NULL);
        return NULL;
    }
    json_error_t err;
    json_t *o = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(o)) {
        json_decref(o);
        refuse(reply, arena, 400, "the body must be one JSON object", NULL);
        return NULL;
    }
    return o;
}

/* The fields one POST takes: name, longest value (characters), required. */
struct field {
    const char *name;
    size_t max_chars;
    bool required;
    const char *const *allowed; /* NULL: any text */
};

static const char *const ticket_statuses[] = {"open", "pending", "resolved", "closed", NULL};
static const char *const presences[] = {"online", "away", "offline", NULL};

static const struct action {
    const char *verb;   /* the path's last part */
    const char *action; /* intake_desk's action */
    struct field fields[4];
} ticket_actions[] = {
    {"claim", "claim", {{NULL}}},
    {"transfer", "transfer", {{"queue", 31, false, NULL}, {"agent", 200, false, NULL}, {NULL}}},
    {"replies",
     "reply",
     {{"text", TEXT_MAX, true, NULL}, {"key", 200, false, NULL}, {"agent", 100, false, NULL}}},
    {"notes", "note", {{"text", TEXT_MAX, true, NULL}, {NULL}}},
    {"status",
     "status",
     {{"status", 16, true, ticket_statuses},
      {"solution", TEXT_MAX, false, NULL},
      {"result", SHORT_MAX, false, NULL}}},
    {"escalate", "escalate", {{"reason", SHORT_MAX, false, NULL}, {NULL}}},
};

static const struct action presence_action = {
    "presence", "presence", {{"presence", 16, true, presences}, {NULL}}};
static const struct action followup_close = {
    "close", "followup_close", {{"outcome", SHORT_MAX, true, NULL}, {NULL}}};

/* Copies the action's fields from the body into doc, checking each; false after a refusal. */
static bool take_fields(const struct action *a, json_t *body, json_t *doc, struct gw_arena *arena,
                        struct gw_http_reply *reply)
{
    const char *known[5] = {NULL};
    for (size_t i = 0; i < 4 && a->fields[i].name; i++)
        known[i] = a->fields[i].name;
    struct gw_check p = {arena, reply};
    if (!gw_check_known_keys(&p, body, known, ""))
        return false;
    for (size_t i = 0; i < 4 && a->fields[i].name; i++) {
        const struct field *f = &a->fields[i];
        const char *v;
        if (!gw_check_opt_string(&p, body, f->name, f->name, f->max_chars, &v))
            return false;
        if (v && gw_is_blank(v))
            v = NULL;
        if (!v && f->required)
            return refuse(reply, arena, 400, "required", f->name);
        if (v && f->allowed && !one_of(v, f->allowed))
            return refuse(reply, arena, 400, "not one of the allowed values", f->name);
        if (v)
            json_object_set_new(
                doc,
                !strcmp(f->name, "agent") && !strcmp(a->action, "reply") ? "agent_name" : f->name,
                json_string(v));
    }
    return true;
}

/* POST with a body checked against the action; the path named the target already. */
static bool post_action(const struct gw_http_request *req, const struct action *a, json_t *doc,
                        struct gw_arena *arena, struct gw_http_reply *reply)
{
    json_t *body = desk_api_body(req, arena, reply);
    bool ok = body && take_fields(a, body, doc, arena, reply);
    json_decref(body);
    return ok;
}

/* The bearer token of the request, or NULL. */
static const char *bearer_of(const struct gw_http_request *req)
{
    const char *auth = req->header(req, "authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return NULL;
    return auth + 7;
}

/* Fills doc from the method and path; false after writing a refusal. */
static bool route(const struct gw_http_request *req, json_t *doc, struct gw_arena *arena,
                  struct gw_http_reply *reply)
{
    static const char *const followup_params[] = {"all", NULL};
    const char *path = req->path;
    bool get = !strcmp(req->method, "GET");
    if (!strcmp(path, "/v1/tickets")) {
        json_object_set_new(doc, "action", json_string("list"));
        return parse_query(req->query, list_params, doc, arena, reply);
    }
    if (!strcmp(path, "/v1/search")) /* desk_search.c */
        return desk_search_request(req->query, doc, req->config, arena, reply);
    if (!strcmp(path, "/v1/agent/me")) {
        json_object_set_new(doc, "action", json_string("me"));
        return true;
    }
    if (!strcmp(path, "/v1/agent/presence")) {
        json_object_set_new(doc, "action", json_string("presence"));
        return post_action(req, &presence_action, doc, arena, reply);
    }
    if (!strcmp(path, "/v1/followups")) {
        json_object_set_new(doc, "action", json_string("followups"));
        return parse_query(req->query, followup_params, doc, arena, reply);
    }
    if (!strncmp(path, "/v1/followups/", 14)) {
        char *end;
        long long id = strtoll(path + 14, &end, 10);
        if (end == path + 14 || strcmp(end, "/close") || id <= 0)
            return refuse(reply, arena, 404, "no such endpoint; POST /v1/followups/{id}/close",
                          NULL);
        json_object_set_new(doc, "action", json_string("followup_close"));
        json_object_set_new(doc, "followup", json_integer(id));
        return post_action(req, &followup_close, doc, arena, reply);
    }
    /* /v1/tickets/{number}[/{verb}] */
    const char *num = path + strlen("/v1/tickets/");
    const char *slash = strchr(num, '/');
    size_t n = slash ? (size_t)(slash - num) : strlen(num);
    if (!desk_is_ticket_number(num, n))
        return refuse(reply, arena, 404, "no such endpoint; see docs/openapi.json", NULL);
    json_object_set_new(doc, "ticket", json_stringn(num, n));
    if (get) {
        if (slash)
            return refuse(reply, arena, 404, "no such endpoint; GET /v1/tickets/{number}", NULL);
        json_object_set_new(doc, "action", json_string("show"));
        return true;
    }
    for (size_t i = 0; slash && i < sizeof(ticket_actions) / sizeof(ticket_actions[0]); i++)
        if (!strcmp(slash + 1, ticket_actions[i].verb)) {
            json_object_set_new(doc, "action", json_string(ticket_actions[i].action));
            return post_action(req, &ticket_actions[i], doc, arena, reply);
        }
    return refuse(reply, arena, 404,
                  "no such endpoint; POST /v1/tickets/{number}/claim, transfer, replies, notes, "
                  "status or escalate",
                  NULL);
}

bool desk_api_answer(const struct gw_http_request *req, struct gw_arena *arena,
                     struct gw_intake_job *job, struct gw_http_reply *reply)
{
    json_t *doc = desk_document(req->config, "list");
    if (!doc)
        return refuse(reply, arena, 500, "out of memory", NULL);
    if (!desk_add_caller(doc, bearer_of(req), req->config)) {
        json_decref(doc);
        return refuse(reply, arena, 401, "an agent token (Authorization: Bearer ...) is required",
                      NULL);
    }
    if (!route(req, doc, arena, reply)) {
        json_decref(doc);
        return false;
    }
    /* A change asked for: which, on which ticket (its outcome: operation.done or .failed). */
    if (strcmp(req->method, "GET"))
        gw_event(GW_LOG_INFO, "desk.request",
                 GW_STR("action", json_string_value(json_object_get(doc, "action"))),
                 GW_STR("ticket", json_string_value(json_object_get(doc, "ticket"))));
    /* A GET reads (a ticket view also writes its audit row): the read lane. */
    if (!desk_submit_document(job, arena,
                              strcmp(req->method, "GET") ? DESK_OP_DESK : DESK_OP_DESK_READ, doc))
        return refuse(reply, arena, 500, "out of memory", NULL);
    return true;
}

/*
 * A large answer's body as PostgreSQL wrote it, found without parsing the
 * answer: jsonb's text form writes an object's keys shortest first, so an
 * answer with a body reads {"body": BODY, "status": NNN}. Parsing a ticket
 * of 200 messages (130 KB) and writing it out again took 1.3-2.7 ms of the
 * event loop, a share of every other request's wait. Small answers are
 * parsed (and written compactly) as before. NULL when the text has another
 * shape; then it is parsed too.
 */
#define AS_WRITTEN_MIN (16 * 1024)

static const char *body_as_written(const char *doc, size_t *len, int *status)
{
    static const char head[] = "{\"body\": {";
    static const char tail[] = "}, \"status\": ";
    size_t n = strlen(doc);
    if (n < AS_WRITTEN_MIN || strncmp(doc, head, sizeof(head) - 1) != 0 || doc[n - 1] != '}')
        return NULL;
    const char *digits = doc + n - 1;
    while (digits > doc && digits[-1] >= '0' && digits[-1] <= '9')
        digits--;
    size_t tail_len = sizeof(tail) - 1;
    if (doc + n - 1 - digits != 3 || (size_t)(digits - doc) < sizeof(head) + tail_len ||
        memcmp(digits - tail_len, tail, tail_len) != 0)
        return NULL;
    const char *body = doc + sizeof(head) - 2; /* at the body's "{" */
    *len = (size_t)(digits - tail_len + 1 - body);
    *status = atoi(digits);
    return body;
}

void desk_api_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                      struct gw_http_reply *reply)
{
    size_t len = 0;
    int as_written = 0;
    const char *body_text =
        r->err == GW_OK && r->document ? body_as_written(r->document, &len, &as_written) : NULL;
    if (body_text && (reply->body = gw_arena_strndup(arena, body_text, len)) != NULL) {
        reply->status = as_written;
        reply->content_type = "application/json";
        reply->body_len = len;
        return;
    }
    json_t *answer = r->document ? json_loads(r->document, 0, NULL) : NULL;
    json_t *status = json_object_get(answer, "status");
    json_t *body = json_object_get(answer, "body");
    if (r->err != GW_OK || !json_is_integer(status)) {
        gw_reply_intake_failure(reply, arena, r);
    } else if (json_is_object(body)) {
        gw_reply_json(reply, arena, (int)json_integer_value(status), json_incref(body));
    } else {
        refuse(reply, arena, (int)json_integer_value(status),
               json_string_value(json_object_get(answer, "error")),
               json_string_value(json_object_get(answer, "field")));
    }
    json_decref(answer);
}
