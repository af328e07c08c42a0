/*
 * The desk's settings: how often breached clocks are escalated
 * (escalation.scan_seconds, a member of the core's section), satisfaction
 * surveys ("surveys"), how long an agent's stream counts as open without
 * word from its gateway ("agents") and how long personal data and raw mail
 * are kept ("retention"). The file's layout is older than the
 * split between core and desk, so the desk reads them where they always
 * were, through the adapter table's settings hooks, with its own defaults:
 * the core's defaults hold none of them. "reports" is read by
 * report_settings.c.
 */
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"

/* DESIGN.md: the survey goes out within 24 hours of the resolution. */
static const struct desk_settings defaults = {
    .scan_s = 30,
    .survey_delay_s = 0,
    .survey_expires_s = 7 * 86400,
    .followup_queue = "complaints",
    .stream_lease_s = 60,
    .personal_data_days = 0,
    .raw_mail_days = 0,
    .reports = {.cache_s = 60, .every = REPORT_MONTHLY, .day = 1},
};

const char *const desk_settings_paths[] = {
    "escalation.scan_seconds", "surveys", "agents", "retention", "reports", NULL};

/* section[key] times unit, within lo..hi (before the unit); fallback when absent. */
static int number(const json_t *section, const char *where, const char *key, long lo, long hi,
                  int unit, int fallback, struct gw_problems *pr)
{
    const json_t *v = json_object_get(section, key);
    if (!v)
        return fallback;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        gw_problems_add(pr, "%s.%s: must be an integer in %ld..%ld", where, key, lo, hi);
        return fallback;
    }
    return unit * (int)json_integer_value(v);
}

/* root[name] when it is an object (unknown keys reported), NULL when absent or not one. */
static const json_t *section(const json_t *root, const char *name, const char *const *known,
                             struct gw_problems *pr)
{
    const json_t *s = json_object_get(root, name);
    if (s && !json_is_object(s))
        gw_problems_add(pr, "%s: must be an object", name);
    else if (s)
        gw_problems_unknown_keys(pr, s, known, name);
    return json_is_object(s) ? s : NULL;
}

void *desk_settings_load(const json_t *root, const struct gw_config *cfg, struct gw_problems *pr)
{
    (void)cfg;
    static const char *const survey_keys[] = {"delay_minutes", "expires_days", "followup_queue",
                                              NULL};
    static const char *const agent_keys[] = {"stream_lease_seconds", NULL};
    struct desk_settings *s = malloc(sizeof(*s));
    if (!s) {
        gw_problems_add(pr, "desk: out of memory");
        return NULL;
    }
    *s = defaults;
    s->scan_s = number(json_object_get(root, "escalation"), "escalation", "scan_seconds", 1, 3600,
                       1, defaults.scan_s, pr);
    const json_t *sv = section(root, "surveys", survey_keys, pr);
    s->survey_delay_s =
        number(sv, "surveys", "delay_minutes", 0, 24 * 60, 60, defaults.survey_delay_s, pr);
    s->survey_expires_s =
        number(sv, "surveys", "expires_days", 1, 365, 86400, defaults.survey_expires_s, pr);
    const json_t *fq = json_object_get(sv, "followup_queue");
    if (fq && (!json_is_string(fq) || !json_string_length(fq)))
        gw_problems_add(pr, "surveys.followup_queue: must be a non-empty string");
    s->followup_queue =
        strdup(json_is_string(fq) && json_string_length(fq) ? json_string_value(fq)
                                                            : defaults.followup_queue);
    /* At least 3: a stream is renewed every third of it, once a second at most. */
    const json_t *ag = section(root, "agents", agent_keys, pr);
    s->stream_lease_s =
        number(ag, "agents", "stream_lease_seconds", 3, 3600, 1, defaults.stream_lease_s, pr);
    /* The sweep runs with the SLA scan and tells a dead gateway from a gap by it. */
    if (s->stream_lease_s <= s->scan_s)
        gw_problems_add(pr,
                        "agents.stream_lease_seconds: must be longer than "
                        "escalation.scan_seconds (%d)",
                        s->scan_s);
    /* Retention: off (0) unless set; a hundred years at most. */
    static const char *const retention_keys[] = {"personal_data_days", "raw_mail_days", NULL};
    const json_t *rt = section(root, "retention", retention_keys, pr);
    s->personal_data_days =
        number(rt, "retention", "personal_data_days", 0, 36500, 1, defaults.personal_data_days, pr);
    s->raw_mail_days =
        number(rt, "retention", "raw_mail_days", 0, 36500, 1, defaults.raw_mail_days, pr);
    if (!s->followup_queue)
        gw_problems_add(pr, "desk: out of memory");
    report_settings_load(json_object_get(root, "reports"), &s->reports, pr);
    return s;
}

void desk_settings_free(void *settings)
{
    struct desk_settings *s = settings;
    if (s) {
        free((char *)s->followup_queue);
        report_settings_free(&s->reports);
    }
    free(s);
}

const struct desk_settings *desk_settings(const struct gw_config *cfg)
{
    const struct desk_settings *s = gw_config_settings(cfg, DESK_NAME);
    return s ? s : &defaults;
}
