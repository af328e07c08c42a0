/*
 * The customer's survey: GET /s/{token} shows the form, POST stores the
 * answer. The token is the link's secret (64 hex digits); only its SHA-256
 * is stored. Every outcome is a page a customer can read, in the ticket's
 * language: the form, thanks, already answered, expired, replaced by a
 * newer survey, unknown link, or the form again with what was missing.
 * Never a bare error.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_form.h"
#include "gw_reply.h"
#include "gw_token.h"
#include "gw_validate.h"

#define TOKEN_HEX   64
#define COMMENT_MAX 2000 /* characters */

static const char *const dimensions[] = {"response_speed", "resolution_efficiency", "attitude",
                                         "professionalism", "overall"};
#define N_DIMENSIONS (sizeof(dimensions) / sizeof(dimensions[0]))

struct texts {
    const char *lang, *title, *intro, *labels[N_DIMENSIONS], *low, *high, *comment, *submit,
        *thanks, *answered, *expired, *superseded, *unknown, *unavailable;
};

static const struct texts en = {
    "en",
    "How did we do?",
    "Your request %s is resolved. Please rate how we handled it.",
    {"Response speed", "Resolution efficiency", "Attitude", "Professionalism", "Overall"},
    "1 = very dissatisfied",
    "5 = very satisfied",
    "Anything else you want to tell us? (optional)",
    "Send",
    "Thank you! Your answer for %s was saved.",
    "This survey for %s was already answered. Thank you.",
    "This survey link has expired.",
    "This survey was replaced by a newer one: please use the latest link we sent.",
    "This survey link is not valid. Please check that it was copied in full.",
    "We could not save or show the survey just now. Please try again in a minute.",
};

static const struct texts zh = {
    "zh",
    "满意度调查",
    "您的请求 %s 已处理完毕，请对我们的服务进行评价。",
    {"响应速度", "解决效率", "服务态度", "专业程度", "总体满意度"},
    "1 = 非常不满意",
    "5 = 非常满意",
    "其他意见或建议（可选）",
    "提交",
    "感谢您的评价！工单 %s 的评价已保存。",
    "工单 %s 的调查已经提交过，感谢您的参与。",
    "该调查链接已过期。",
    "该调查已被更新的调查取代，请使用我们最近发送的链接。",
    "该调查链接无效，请确认链接完整。",
    "暂时无法显示或保存调查，请稍后再试。",
};

static const char *escape(struct gw_arena *arena, const char *s)
{
    gchar *e = g_markup_escape_text(s ? s : "", -1);
    const char *copy = gw_arena_strdup(arena, e);
    g_free(e);
    return copy ? copy : "";
}

/* One of our texts with its "%s" replaced by the ticket number. */
static const char *with_ticket(struct gw_arena *arena, const char *text, const char *ticket)
{
    const char *at = strstr(text, "%s");
    if (!at)
        return text;
    return gw_arena_printf(arena, "%.*s%s%s", (int)(at - text), text, escape(arena, ticket),
                           at + 2);
}

static const char *form_html(struct gw_arena *arena, const struct texts *t, const char *ticket,
                             const char *problem)
{
    GString *g = g_string_new(NULL);
    g_string_append_printf(g, "<p>%s</p>", with_ticket(arena, t->intro, ticket));
    if (problem)
        g_string_append_printf(g, "<p class=\"problem\" role=\"alert\">%s</p>",
                               escape(arena, problem));
    g_string_append_printf(g, "<form method=\"post\"><p class=\"scale\">%s · %s</p>", t->low,
                           t->high);
    for (size_t d = 0; d < N_DIMENSIONS; d++) {
        g_string_append_printf(g, "<fieldset><legend>%s</legend>", t->labels[d]);
        for (int v = 1; v <= 5; v++)
            g_string_append_printf(g,
                                   "<label><input type=\"radio\" name=\"%s\" value=\"%d\" "
                                   "required>%d</label>",
                                   dimensions[d], v, v);
        g_string_append(g, "</fieldset>");
    }
    g_string_append_printf(g,
                           "<label class=\"comment\">%s<textarea name=\"comment\" rows=\"4\" "
                           "maxlength=\"%d\"></textarea></label><button type=\"submit\">%s</button>"
                           "</form>",
                           t->comment, COMMENT_MAX, t->submit);
    const char *html = gw_arena_strdup(arena, g->str);
    g_string_free(g, TRUE);
    return html;
}

/* The page for a survey in a state ("open", "saved", "answered" ...), in zh or en. */
static const char *survey_page(struct gw_arena *arena, const char *state, const char *language,
                               const char *ticket, const char *problem)
{
    const struct texts *t = language && !strcmp(language, "zh") ? &zh : &en;
    const char *body;
    if (!strcmp(state, "open"))
        body = form_html(arena, t, ticket, problem);
    else if (!strcmp(state, "saved"))
        body = gw_arena_printf(arena, "<p class=\"done\">%s</p>",
                               with_ticket(arena, t->thanks, ticket));
    else if (!strcmp(state, "answered"))
        body = gw_arena_printf(arena, "<p class=\"done\">%s</p>",
                               with_ticket(arena, t->answered, ticket));
    else if (!strcmp(state, "expired"))
        body = gw_arena_printf(arena, "<p>%s</p>", t->expired);
    else if (!strcmp(state, "superseded"))
        body = gw_arena_printf(arena, "<p>%s</p>", t->superseded);
    else if (!strcmp(state, "unavailable"))
        body = gw_arena_printf(arena, "<p>%s</p>", t->unavailable);
    else
        body = gw_arena_printf(arena, "<p>%s</p>", t->unknown);
    return gw_arena_printf(
        arena,
        "<!doctype html><html lang=\"%s\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>%s</title><style>"
        "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:32rem;padding:1rem;"
        "color:#1b1f24}h1{font-size:1.4rem}fieldset{border:1px solid #d0d7de;border-radius:8px;"
        "margin:0 0 .8rem;padding:.5rem .8rem}legend{font-weight:600}fieldset label{display:"
        "inline-block;min-width:2.6rem;padding:.3rem 0}.scale{color:#57606a;font-size:.9rem}"
        "textarea{box-sizing:border-box;display:block;width:100%%;margin:.3rem 0 1rem}"
        "button{font-size:1rem;padding:.6rem 1.6rem;border:0;border-radius:8px;background:#0969da;"
        "color:#fff}.problem{color:#cf222e;font-weight:600}.done{font-size:1.1rem}"
        "</style></head><body><h1>%s</h1>%s</body></html>",
        t->lang, t->title, t->title, body ? body : "");
}

static bool page(struct gw_http_reply *reply, struct gw_arena *arena, int status, const char *state,
                 const char *language, const char *ticket, const char *problem)
{
    reply->status = status;
    reply->content_type = "text/html; charset=utf-8";
    reply->cache_control = "no-store";
    reply->body = survey_page(arena, state, language, ticket, problem);
    reply->body_len = reply->body ? strlen(reply->body) : 0;
    return false;
}

/* The language to show a page in before the database said which: the browser's. */
static const char *browser_language(const struct gw_http_request *req)
{
    const char *al = req->header(req, "accept-language");
    return al && !strncasecmp(al, "zh", 2) ? "zh" : "en";
}

/* The five ratings and the comment of a POST; NULL when fine, else what is wrong. */
static const char *read_answer(const struct gw_http_request *req, struct gw_arena *arena,
                               json_t *doc)
{
    struct gw_form form;
    if (!gw_form_parse(arena, (const char *)req->body, req->body_len, &form))
        return "the form could not be read";
    json_t *ratings = json_object();
    json_object_set_new(doc, "ratings", ratings);
    for (size_t d = 0; d < N_DIMENSIONS; d++) {
        const char *v = gw_form_get(&form, dimensions[d]);
        if (!v || strlen(v) != 1 || v[0] < '1' || v[0] > '5')
            return "please choose a rating from 1 to 5 for every question";
        json_object_set_new(ratings, dimensions[d], json_integer(v[0] - '0'));
    }
    const char *comment = gw_form_get(&form, "comment");
    if (comment && gw_utf8_length(comment) > COMMENT_MAX)
        return "the comment is too long";
    if (comment)
        json_object_set_new(doc, "comment", json_string(comment));
    return NULL;
}

bool desk_survey_answer(const struct gw_http_request *req, struct gw_arena *arena,
                        struct gw_intake_job *job, struct gw_http_reply *reply)
{
    const char *token = req->path + strlen("/s/");
    if (strlen(token) != TOKEN_HEX || strspn(token, "0123456789abcdef") != TOKEN_HEX)
        return page(reply, arena, 404, "unknown", browser_language(req), NULL, NULL);
    char hash[65];
    gw_token_hash(token, hash);
    json_t *doc = desk_document(req->config, "survey");
    if (!doc)
        return page(reply, arena, 503, "unavailable", browser_language(req), NULL, NULL);
    json_object_set_new(doc, "token_hash", json_string(hash));
    enum desk_operation op = DESK_OP_SURVEY_GET;
    if (!strcmp(req->method, "POST")) {
        const char *problem = read_answer(req, arena, doc);
        /* A form with a gap is shown again, with the problem, in the survey's language. */
        if (problem)
            json_object_set_new(doc, "problem", json_string(problem));
        else
            op = DESK_OP_SURVEY_ANSWER;
    }
    if (!desk_submit_document(job, arena, op, doc))
        return page(reply, arena, 503, "unavailable", browser_language(req), NULL, NULL);
    return true;
}

void desk_survey_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                         struct gw_http_reply *reply)
{
    json_t *answer = r->document ? json_loads(r->document, 0, NULL) : NULL;
    const char *state = json_string_value(json_object_get(answer, "state"));
    const char *lang = json_string_value(json_object_get(answer, "language"));
    const char *problem = json_string_value(json_object_get(answer, "problem"));
    if (r->err != GW_OK || !state) {
        page(reply, arena, 503, "unavailable", lang, NULL, NULL);
        reply->retry_after_s = 30;
    } else {
        int status = !strcmp(state, "open")       ? (problem ? 400 : 200)
                     : !strcmp(state, "saved")    ? 200
                     : !strcmp(state, "answered") ? 409
                     : !strcmp(state, "unknown")  ? 404
                                                  : 410; /* expired, superseded */
        page(reply, arena, status, state, lang,
             json_string_value(json_object_get(answer, "ticket")), problem);
    }
    json_decref(answer);
}
