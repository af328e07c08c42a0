/*
 * The desk's notices to customers, outbox rows its SQL writes
 * (db/functions/surveys.sql) and the core delivers: the survey invitation,
 * a link to the survey page (desk_survey.c) with a line on when it stops
 * working. The words are the desk's; the core only picks the way (the live
 * session while the customer is in it, else their address), so a new kind
 * of notice needs no change outside desk/.
 */
#include <string.h>
#include <time.h>

#include "desk.h"
#include "gw_config.h"

const char *const desk_notice_kinds[] = {"survey", NULL};

static const char *survey_title(const json_t *survey)
{
    const char *lang = json_string_value(json_object_get(survey, "language"));
    return lang && !strcmp(lang, "zh") ? "请评价我们的服务" : "How did we do?";
}

static char *survey_text(const json_t *survey, const char *url, struct gw_arena *arena)
{
    const char *lang = json_string_value(json_object_get(survey, "language"));
    const char *ticket = json_string_value(json_object_get(survey, "ticket"));
    json_int_t expires = json_integer_value(json_object_get(survey, "expires_at"));
    char until[32] = "";
    time_t t = (time_t)expires;
    struct tm tm;
    if (expires > 0 && gmtime_r(&t, &tm))
        strftime(until, sizeof(until), "%Y-%m-%d", &tm);
    if (lang && !strcmp(lang, "zh"))
        return gw_arena_printf(arena,
                               "您的请求 %s 已处理完毕。请花一分钟评价我们的服务：\n%s\n"
                               "（链接有效期至 %s，仅可提交一次）",
                               ticket ? ticket : "", url, until);
    return gw_arena_printf(arena,
                           "Your request %s is resolved. Please take a minute to rate our "
                           "service:\n%s\n(The link works once, until %s UTC.)",
                           ticket ? ticket : "", url, until);
}

enum gw_err desk_render_notice(json_t *payload, const struct gw_config *cfg, struct gw_arena *arena,
                               json_t **event)
{
    const char *token = json_string_value(json_object_get(payload, "token"));
    const char *url = token ? gw_arena_printf(arena, "%s/s/%s", cfg->public_url, token) : NULL;
    const char *text = url ? survey_text(payload, url, arena) : NULL;
    if (!text)
        return GW_ERR_INVALID;
    json_object_set_new(payload, "text", json_string(text));
    json_object_set_new(payload, "title", json_string(survey_title(payload)));
    /* In a live session: a notice event like the session's others, with the link. */
    if (json_is_integer(json_object_get(payload, "session")))
        *event = json_pack("{s:s, s:s, s:O?, s:s, s:s, s:O?}", "type", "notice", "notice", "survey",
                           "ticket", json_object_get(payload, "ticket"), "url", url, "text", text,
                           "language", json_object_get(payload, "language"));
    return GW_OK;
}
