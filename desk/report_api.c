/*
 * GET /v1/reports?period=2026-11|2026-Q4 | from=&to=, &queue= &format=json|csv|html|text
 * &lang=en|zh: a period's report for leads, supervisors and the API token.
 *
 * The database checks the token (intake_desk, action "report"). A report
 * takes seconds at 200,000 tickets, so its operation runs on the
 * intake's lane of its own (gw_operation.own_lane), never in a registration
 * batch, and is served from the cache in db/functions/report_serve.sql. The
 * reply is rendered on that lane's thread too (finish): a month's CSV is
 * megabytes the event loop should not spend its time writing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_reply.h"

/* A 400 naming the field; false, for the caller to return. */
static bool bad(struct gw_http_reply *reply, struct gw_arena *arena, const char *msg,
                const char *field)
{
    gw_reply_error(reply, arena, 400, msg, field);
    return false;
}

struct report_query {
    const char *period, *from, *to, *queue, *format, *lang;
};

/* The query's parameters by name; false after a refusal (unknown or repeated parameter). */
static bool read_query(const char *query, struct report_query *q, struct gw_arena *arena,
                       struct gw_http_reply *reply)
{
    static const char *const names[] = {"period", "from", "to", "queue", "format", "lang"};
    const char **slots[] = {&q->period, &q->from, &q->to, &q->queue, &q->format, &q->lang};
    char *copy = query ? gw_arena_strdup(arena, query) : NULL;
    char *save = NULL;
    for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq = '\0';
        size_t i = 0;
        while (i < 6 && strcmp(kv, names[i]))
            i++;
        if (i == 6)
            return bad(reply, arena, "unknown query parameter", kv);
        if (*slots[i])
            return bad(reply, arena, "given twice", kv);
        *slots[i] = eq ? eq + 1 : "";
    }
    return true;
}

/* The request document of intake_report_serve from the query; false after a refusal. */
static bool report_request(const struct report_query *q, json_t *doc, const struct gw_config *cfg,
                           struct gw_arena *arena, struct gw_http_reply *reply)
{
    enum report_format format = REPORT_JSON;
    enum report_lang lang = REPORT_EN;
    if (q->format && !report_format_parse(q->format, &format))
        return bad(reply, arena, "the format is json, csv, html or text", "format");
    if (q->lang && !report_lang_parse(q->lang, &lang))
        return bad(reply, arena, "the language is en or zh", "lang");
    if (q->queue && (!*q->queue || strlen(q->queue) > 31))
        return bad(reply, arena, "no such queue", "queue");
    if (q->period && (q->from || q->to))
        return bad(reply, arena, "give a period, or from and to, not both", "period");
    if (!q->period && (!q->from || !q->to))
        return bad(reply, arena, "give a period (YYYY-MM or YYYY-Qn), or from and to",
                   q->from ? "to"
                   : q->to ? "from"
                           : "period");
    struct report_period p;
    const char *why = NULL;
    if (!report_period_parse(q->period, q->from, q->to, &p, &why))
        return bad(reply, arena, why, q->period ? "period" : "from");
    const struct report_settings *rs = &desk_settings(cfg)->reports;
    json_object_set_new(doc, "from", json_string(p.from));
    json_object_set_new(doc, "to", json_string(p.to));
    json_object_set_new(doc, "period", json_string(p.name));
    json_object_set_new(doc, "timezone",
                        json_string(report_timezone(rs, json_object_get(doc, "calendar"))));
    if (q->queue)
        json_object_set_new(doc, "queue", json_string(q->queue));
    json_object_set_new(doc, "format", json_string(q->format ? q->format : "json"));
    json_object_set_new(doc, "lang", json_string(lang == REPORT_ZH ? "zh" : "en"));
    json_object_set_new(doc, "cache_s", json_integer(rs->cache_s));
    return true;
}

bool desk_report_answer(const struct gw_http_request *req, struct gw_arena *arena,
                        struct gw_intake_job *job, struct gw_http_reply *reply)
{
    const char *auth = req->header(req, "authorization");
    const char *token = auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
    struct report_query q = {0};
    json_t *doc = desk_document(req->config, "report");
    if (!doc) {
        gw_reply_error(reply, arena, 500, "out of memory", NULL);
        return false;
    }
    bool ok = false;
    if (!desk_add_caller(doc, token, req->config)) {
        gw_reply_error(reply, arena, 401, "an agent token (Authorization: Bearer ...) is required",
                       NULL);
        reply->www_authenticate = "Bearer";
    } else if (read_query(req->query, &q, arena, reply) &&
               report_request(&q, doc, req->config, arena, reply))
        ok = true;
    if (!ok) {
        json_decref(doc);
        return false;
    }
    if (desk_submit_document(job, arena, DESK_OP_REPORT, doc))
        return true;
    gw_reply_error(reply, arena, 500, "out of memory", NULL);
    return false;
}

/* The CSV of the answer's rows (intake_report_rows). */
static void write_csv(FILE *out, const json_t *rows)
{
    report_write_csv_header(out);
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) report_write_csv_row(out, row);
}

void desk_report_finish(struct gw_intake_result *r, struct gw_arena *arena)
{
    json_t *answer = json_loads(r->document, 0, NULL);
    json_t *body = json_object_get(answer, "body");
    enum report_format format = REPORT_JSON;
    enum report_lang lang = REPORT_EN;
    report_format_parse(json_string_value(json_object_get(answer, "format")), &format);
    report_lang_parse(json_string_value(json_object_get(answer, "lang")), &lang);
    char *text = NULL;
    size_t len = 0;
    FILE *out = json_is_object(body) ? open_memstream(&text, &len) : NULL;
    if (out) {
        static const char *const types[] = {
            [REPORT_TEXT] = "text/plain; charset=utf-8",
            [REPORT_JSON] = "application/json",
            [REPORT_CSV] = "text/csv; charset=utf-8; header=present",
            [REPORT_HTML] = "text/html; charset=utf-8",
        };
        if (format == REPORT_CSV)
            write_csv(out, json_object_get(body, "rows"));
        else if (format == REPORT_HTML)
            report_write_html(out, body, lang);
        else if (format == REPORT_TEXT)
            report_write_text(out, body, lang);
        else
            json_dumpf(body, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (fclose(out) == 0) {
            char *copy = gw_arena_alloc(arena, len + 1);
            if (copy) {
                memcpy(copy, text, len + 1);
                r->body = copy;
                r->body_len = len;
                r->content_type = types[format];
            }
        }
        free(text);
    }
    json_decref(answer);
}

void desk_report_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                         struct gw_http_reply *reply)
{
    if (r->err != GW_OK || !r->body) {
        desk_api_respond(r, arena, reply);
        return;
    }
    reply->status = 200;
    reply->content_type = r->content_type;
    reply->body = r->body;
    reply->body_len = r->body_len;
    reply->cache_control = "no-store";
}
