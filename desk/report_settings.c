/*
 * The "reports" settings: who gets the report by mail and when, its time
 * zone, and how fresh a report served to the console must be.
 *   "reports": {"recipients": ["lead@example.com"], "from": "desk@example.com",
 *               "schedule": "monthly:1", "language": "zh",
 *               "timezone": "Asia/Shanghai", "cache_seconds": 60}
 * The schedule is one string ("monthly", "monthly:N" with N 1-28, "weekly",
 * "weekly:mon".."weekly:sun") rather than an object: it reads as it is said.
 */
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "report.h"

static const char *const weekdays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static bool parse_schedule(const char *s, struct report_settings *out)
{
    if (!strcmp(s, "monthly") || !strcmp(s, "weekly")) {
        out->every = s[0] == 'm' ? REPORT_MONTHLY : REPORT_WEEKLY;
        out->day = 1;
        return true;
    }
    if (!strncmp(s, "monthly:", 8)) {
        char *end;
        long d = strtol(s + 8, &end, 10);
        if (end == s + 8 || *end || d < 1 || d > 28)
            return false;
        out->every = REPORT_MONTHLY;
        out->day = (int)d;
        return true;
    }
    for (int i = 0; i < 7 && !strncmp(s, "weekly:", 7); i++)
        if (!strcmp(s + 7, weekdays[i])) {
            out->every = REPORT_WEEKLY;
            out->day = i + 1;
            return true;
        }
    return false;
}

/* A plausible mail address: one '@' with text on both sides, no spaces or controls. */
static bool is_address(const char *s)
{
    const char *at = strchr(s, '@');
    size_t n = strlen(s);
    if (!at || at == s || !at[1] || strchr(at + 1, '@') || n > 254)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || strchr("<>,;\"", s[i]))
            return false;
    return true;
}

static void load_recipients(const json_t *list, struct report_settings *out, struct gw_problems *pr)
{
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    if (list && !json_is_array(list))
        gw_problems_add(pr, "reports.recipients: must be a list of mail addresses");
    out->recipients = calloc(n + 1, sizeof(*out->recipients));
    if (!out->recipients) {
        gw_problems_add(pr, "reports: out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(list, i));
        if (!a || !is_address(a)) {
            gw_problems_add(pr, "reports.recipients[%zu]: must be a mail address", i);
            continue;
        }
        out->recipients[out->n_recipients] = strdup(a);
        if (out->recipients[out->n_recipients])
            out->n_recipients++;
    }
}

void report_settings_load(const json_t *section, struct report_settings *out,
                          struct gw_problems *pr)
{
    static const char *const keys[] = {"recipients", "schedule", "timezone", "cache_seconds",
                                       "from",       "language", NULL};
    memset(out, 0, sizeof(*out));
    out->cache_s = 60;
    out->every = REPORT_MONTHLY;
    out->day = 1;
    if (section && !json_is_object(section)) {
        gw_problems_add(pr, "reports: must be an object");
        section = NULL;
    }
    if (section)
        gw_problems_unknown_keys(pr, section, keys, "reports");
    load_recipients(json_object_get(section, "recipients"), out, pr);
    const json_t *sched = json_object_get(section, "schedule");
    if (sched && (!json_is_string(sched) || !parse_schedule(json_string_value(sched), out)))
        gw_problems_add(pr, "reports.schedule: must be \"monthly\", \"monthly:N\" (1-28), "
                            "\"weekly\" or \"weekly:mon\"..\"weekly:sun\"");
    const json_t *tz = json_object_get(section, "timezone");
    if (tz && (!json_is_string(tz) || !json_string_length(tz) || json_string_length(tz) > 64))
        gw_problems_add(pr, "reports.timezone: must be a time zone name (Asia/Shanghai)");
    else if (tz)
        out->timezone = strdup(json_string_value(tz));
    const json_t *cache = json_object_get(section, "cache_seconds");
    if (cache && (!json_is_integer(cache) || json_integer_value(cache) < 0 ||
                  json_integer_value(cache) > 86400))
        gw_problems_add(pr, "reports.cache_seconds: must be an integer in 0..86400");
    else if (cache)
        out->cache_s = (int)json_integer_value(cache);
    const json_t *from = json_object_get(section, "from");
    if (from && (!json_is_string(from) || !is_address(json_string_value(from))))
        gw_problems_add(pr, "reports.from: must be a mail address");
    else if (from)
        out->from = strdup(json_string_value(from));
    if (out->n_recipients && !out->from)
        gw_problems_add(pr, "reports.from: the sender of the mailed reports is required with "
                            "reports.recipients");
    const json_t *lang = json_object_get(section, "language");
    if (lang && !report_lang_parse(json_string_value(lang), &out->lang))
        gw_problems_add(pr, "reports.language: must be \"en\" or \"zh\"");
}

void report_settings_free(struct report_settings *s)
{
    for (size_t i = 0; s->recipients && i < s->n_recipients; i++)
        free(s->recipients[i]);
    free(s->recipients);
    free((char *)s->timezone);
    free((char *)s->from);
    memset(s, 0, sizeof(*s));
}

const char *report_timezone(const struct report_settings *s, const json_t *calendar)
{
    const char *tz = json_string_value(json_object_get(calendar, "tz"));
    return s && s->timezone ? s->timezone : tz ? tz : "UTC";
}
