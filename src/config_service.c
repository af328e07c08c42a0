/*
 * The service rules' settings besides the priorities' clocks: the escalation
 * tiers' deadlines, the business-hours calendar that deadlines and working
 * days run on, and the queues' webhooks. They stay in the core because
 * registration sets a ticket's deadlines from them and the outbox posts the
 * webhooks; a setting only an adapter reads is the adapter's to load, even
 * in one of these sections (gw_channel.settings_paths).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_private.h"

/* Three per-level hour counts (levels 1-3) into seconds. */
static void load_levels(json_t *esc, const char *key, int out[3], struct gw_problems *pr)
{
    json_t *arr = json_object_get(esc, key);
    if (!json_is_array(arr) || json_array_size(arr) != 3) {
        gw_problems_add(pr, "escalation.%s: must be 3 integers (levels 1-3)", key);
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 24 * 365)
            gw_problems_add(pr, "escalation.%s[%zu]: must be 1..8760", key, i);
        else
            out[i] = 3600 * (int)json_integer_value(v);
    }
}

void cfg_load_escalation(struct gw_config *cfg, json_t *esc, struct gw_problems *pr)
{
    load_levels(esc, "resolve_hours", cfg->resolve_s, pr);
    load_levels(esc, "respond_hours", cfg->respond_s, pr);
}

/* "HH:MM" (24:00 allowed as an end) as minutes, or -1. */
static int minutes_of(const char *s)
{
    int h, m;
    char tail;
    if (!s || strlen(s) != 5 || sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || m < 0 || m > 59 ||
        h < 0 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

static bool is_date(const char *s)
{
    int y, mo, d;
    char tail;
    return s && strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) == 3 && mo >= 1 &&
           mo <= 12 && d >= 1 && d <= 31;
}

/*
 * The calendar is checked here and handed to the database as it is written
 * (with defaults filled in), where the clock arithmetic runs.
 */
static void load_business_hours(struct gw_config *cfg, json_t *bh, struct gw_problems *pr)
{
    static const char *const keys[] = {"timezone", "days", "start", "end", "holidays", NULL};
    cfg_keys(bh, "business_hours.", keys, pr);
    char *tz = cfg_str(bh, "timezone", "business_hours.", 0, pr);
    char path[256];
    if (tz && (strstr(tz, "..") ||
               (snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz), access(path, R_OK))))
        gw_problems_add(pr, "business_hours.timezone: \"%s\" is not a known time zone", tz);
    json_t *days = json_object_get(bh, "days");
    if (!days)
        days = json_pack("[iiiii]", 1, 2, 3, 4, 5);
    else
        json_incref(days);
    bool days_ok = json_is_array(days) && json_array_size(days) > 0;
    size_t i;
    json_t *v;
    json_array_foreach(days, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 7)
            days_ok = false;
    }
    if (!days_ok)
        gw_problems_add(pr, "business_hours.days: must list weekdays 1 (Monday) .. 7 (Sunday)");
    json_t *start = json_object_get(bh, "start"), *end = json_object_get(bh, "end");
    const char *s = start ? json_string_value(start) : "09:00";
    const char *e = end ? json_string_value(end) : "18:00";
    int sm = minutes_of(s), em = minutes_of(e);
    if (sm < 0 || em < 0 || sm >= em)
        gw_problems_add(pr,
                        "business_hours: start and end must be \"HH:MM\" with start before end");
    json_t *hol = json_object_get(bh, "holidays");
    if (hol && !json_is_array(hol))
        gw_problems_add(pr, "business_hours.holidays: must be a list of \"YYYY-MM-DD\"");
    json_array_foreach(hol, i, v)
    {
        if (!is_date(json_string_value(v)))
            gw_problems_add(pr, "business_hours.holidays[%zu]: must be \"YYYY-MM-DD\"", i);
    }
    json_t *cal = json_pack("{s:s?, s:O, s:s?, s:s?, s:o}", "tz", tz, "days", days, "start", s,
                            "end", e, "holidays", hol ? json_incref(hol) : json_array());
    cfg->business_hours = cal ? json_dumps(cal, JSON_COMPACT) : NULL;
    json_decref(cal);
    json_decref(days);
    free(tz);
}

static void load_queue_hooks(struct gw_config *cfg, json_t *queues, struct gw_problems *pr)
{
    cfg->queue_hooks = calloc(json_object_size(queues) + 1, sizeof(*cfg->queue_hooks));
    if (!cfg->queue_hooks)
        return;
    const char *name;
    json_t *q;
    json_object_foreach(queues, name, q)
    {
        char path[96];
        snprintf(path, sizeof(path), "queues.%.60s.", name);
        if (!json_is_object(q)) {
            gw_problems_add(pr, "queues.%s: must be an object", name);
            continue;
        }
        static const char *const k[] = {"webhook_url", "webhook_secret", NULL};
        cfg_keys(q, path, k, pr);
        struct gw_queue_hook *h = &cfg->queue_hooks[cfg->n_queue_hooks++];
        h->queue = strdup(name);
        h->url = cfg_str(q, "webhook_url", path, 0, pr);
        h->secret = cfg_str(q, "webhook_secret", path, 0, pr);
        if (h->url && strncmp(h->url, "http://", 7) && strncmp(h->url, "https://", 8))
            gw_problems_add(pr, "%swebhook_url: must start with http:// or https://", path);
        if (h->secret && strlen(h->secret) < 16)
            gw_problems_add(pr, "%swebhook_secret: at least 16 characters", path);
    }
}

const struct gw_queue_hook *gw_config_queue_hook(const struct gw_config *cfg, const char *queue)
{
    for (size_t i = 0; queue && i < cfg->n_queue_hooks; i++)
        if (cfg->queue_hooks[i].queue && !strcmp(cfg->queue_hooks[i].queue, queue))
            return &cfg->queue_hooks[i];
    return NULL;
}

void cfg_load_service(struct gw_config *cfg, json_t *root, struct gw_problems *pr)
{
    json_t *queues = cfg_obj(root, "queues", pr);
    if (queues)
        load_queue_hooks(cfg, queues, pr);
    json_t *bh = json_object_get(root, "business_hours");
    if (json_is_object(bh))
        load_business_hours(cfg, bh, pr);
    else if (bh && !json_is_null(bh))
        gw_problems_add(pr, "business_hours: must be an object or null (24x7)");
}
