/*
 * GET /v1/search?q=&limit=&after=: the desk's search over tickets (numbers,
 * subjects, message text, customers' names, email addresses, phone numbers;
 * Chinese and English). This file only checks the request's shape and hands
 * the database one intake_desk() call (action "search"); the searching, the
 * ranking and what the caller may see are db/functions/search.sql's, since
 * they must happen next to the index in one query. It also keeps the index
 * current: after each outbox pass (gw_channel.tend), the messages registered
 * since are indexed on the dispatcher's connection, outside the
 * registrations, which would otherwise pay for it in their one worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_json_check.h"
#include "gw_reply.h"
#include "gw_validate.h"

#define QUERY_MAX_CHARS 200
#define PAGE_MAX        50

static bool refuse(struct gw_http_reply *reply, struct gw_arena *arena, const char *msg,
                   const char *field)
{
    gw_reply_error(reply, arena, 400, msg, field);
    return false;
}

/* Whether s is "d:d:d[.d]:d", the "next" of a page before (snapshot, time, score, ticket). */
static bool is_cursor(const char *s)
{
    if (strlen(s) > 80)
        return false;
    int part = 0;
    size_t run = 0;
    bool dot = false;
    for (const char *p = s;; p++) {
        if (*p >= '0' && *p <= '9') {
            run++;
        } else if (*p == '.' && part == 2 && run > 0 && !dot) {
            dot = true;
            run = 0;
        } else if ((*p == ':' || !*p) && run > 0 && run <= 19) {
            part++;
            run = 0;
            if (!*p)
                return part == 4;
            if (part == 4)
                return false;
        } else {
            return false;
        }
    }
}

/* Whether q is text worth sending: valid UTF-8, no control characters, not blank. */
static bool is_query_text(const char *q)
{
    size_t n = strlen(q);
    if (!gw_utf8_valid(q, n) || gw_is_blank(q))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)q[i] < 0x20 || q[i] == 0x7f)
            return false;
    return true;
}

bool desk_search_request(const char *query, json_t *doc, const struct gw_config *cfg,
                         struct gw_arena *arena, struct gw_http_reply *reply)
{
    json_object_set_new(doc, "action", json_string("search"));
    json_object_set_new(doc, "ticket_prefix", json_string(cfg->ticket_prefix));
    char *copy = query ? gw_arena_strdup(arena, query) : NULL;
    char *save = NULL;
    bool have_q = false;
    for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        const char *value = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (!strcmp(kv, "q")) {
            if (!is_query_text(value))
                return refuse(reply, arena,
                              "the query must be UTF-8 text without control characters", "q");
            if (gw_utf8_length(value) > QUERY_MAX_CHARS)
                return refuse(reply, arena, "the query is longer than 200 characters", "q");
            json_object_set_new(doc, "q", json_string(value));
            have_q = true;
        } else if (!strcmp(kv, "limit")) {
            char *end;
            long n = strtol(value, &end, 10);
            if (!*value || *end || n < 1 || n > PAGE_MAX)
                return refuse(reply, arena, "invalid value: 1 to 50", "limit");
            json_object_set_new(doc, "limit", json_integer(n));
        } else if (!strcmp(kv, "after")) {
            if (!is_cursor(value))
                return refuse(reply, arena, "invalid value: the \"next\" of the page before",
                              "after");
            json_object_set_new(doc, "after", json_string(value));
        } else {
            /* A '&' inside q arrives here too: lws decodes before the query is split again. */
            return refuse(reply, arena, "unknown query parameter (q, limit, after)", kv);
        }
    }
    if (!have_q)
        return refuse(reply, arena, "required", "q");
    return true;
}

int desk_search_tend(PGconn *conn, const struct gw_config *cfg, int max)
{
    (void)cfg;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", max);
    const char *params[] = {limit};
    PGresult *res = PQexecParams(conn, "SELECT intake_search_catch_up($1::int)", 1, NULL, params,
                                 NULL, NULL, 0);
    /* A failure is the database's (the dispatcher logs outages): try again next pass. */
    int n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return n;
}
