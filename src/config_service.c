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

/* Three per-level hour counts (levels 1-3) into seconds, at the row's offset. */
void gw_cfg_levels(const struct gw_cfg_key *row, void *base, json_t *arr, const char *path,
                   struct gw_problems *pr)
{
    int *out = (int *)((char *)base + row->offset);
    if (!json_is_array(arr) || json_array_size(arr) != 3) {
        gw_problems_add(pr, "%s: must be 3 integers (levels 1-3)", path);
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 24 * 365)
            gw_problems_add(pr, "%s[%zu]: must be 1..8760", path, i);
        else
            out[i] = 3600 * (int)json_integer_value(v);
    }
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

static void timezone_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                          struct gw_problems *pr)
{
    (void)row, (void)base;
    const char *tz = json_string_value(value);
    char file[256];
    if (strstr(tz, "..") ||
        (snprintf(file, sizeof(file), "/usr/share/zoneinfo/%s", tz), access(file, R_OK)))
        gw_problems_add(pr, "%s: \"%s\" is not a known time zone", path, tz);
}

/* The calendar's members; all but the time zone are checked together below. */
static const struct gw_cfg_key business_hours_keys[] = {
    {.path = "timezone", .type = GW_CFG_STRING, .offset = GW_CFG_NOWHERE, .hook = timezone_hook},
    {.path = "days", .type = GW_CFG_PART},
    {.path = "start", .type = GW_CFG_PART},
    {.path = "end", .type = GW_CFG_PART},
    {.path = "holidays", .type = GW_CFG_PART},
    {0}};

/*
 * The calendar is checked here and handed to the database as it is written
 * (with defaults filled in), where the clock arithmetic runs.
 */
static void load_business_hours(struct gw_config *cfg, json_t *bh, struct gw_problems *pr)
{
    gw_cfg_load(business_hours_keys, cfg, bh, "business_hours.", pr);
    json_t *tzv = json_object_get(bh, "timezone");
    const char *tz = json_string_length(tzv) ? json_string_value(tzv) : NULL;
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
}

static void secret_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                        struct gw_problems *pr)
{
    (void)row, (void)base;
    if (json_string_length(value) < 16)
        gw_problems_add(pr, "%s: at least 16 characters", path);
}

#define HOOK_AT(field) offsetof(struct gw_queue_hook, field)
static const struct gw_cfg_key queue_keys[] = {
    {.path = "webhook_url", .type = GW_CFG_STRING, .offset = HOOK_AT(url), .hook = gw_cfg_http_url},
    {.path = "webhook_secret",
     .type = GW_CFG_STRING,
     .offset = HOOK_AT(secret),
     .hook = secret_hook},
    {0}};

void gw_cfg_queues(const struct gw_cfg_key *row, void *base, json_t *queues, const char *path,
                   struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    if (!json_is_object(queues)) {
        gw_problems_add(pr, "%s: must be an object", path);
        return;
    }
    cfg->queue_hooks = calloc(json_object_size(queues) + 1, sizeof(*cfg->queue_hooks));
    if (!cfg->queue_hooks)
        return;
    const char *name;
    json_t *q;
    json_object_foreach(queues, name, q)
    {
        char at[96];
        snprintf(at, sizeof(at), "%s.%.60s.", path, name);
        if (!json_is_object(q)) {
            gw_problems_add(pr, "%s.%s: must be an object", path, name);
            continue;
        }
        struct gw_queue_hook *h = &cfg->queue_hooks[cfg->n_queue_hooks++];
        h->queue = strdup(name);
        gw_cfg_load(queue_keys, h, q, at, pr);
    }
}

const struct gw_queue_hook *gw_config_queue_hook(const struct gw_config *cfg, const char *queue)
{
    for (size_t i = 0; queue && i < cfg->n_queue_hooks; i++)
        if (cfg->queue_hooks[i].queue && !strcmp(cfg->queue_hooks[i].queue, queue))
            return &cfg->queue_hooks[i];
    return NULL;
}

void gw_cfg_business_hours(const struct gw_cfg_key *row, void *base, json_t *bh, const char *path,
                           struct gw_problems *pr)
{
    (void)row;
    if (json_is_object(bh))
        load_business_hours(base, bh, pr);
    else if (bh && !json_is_null(bh))
        gw_problems_add(pr, "%s: must be an object or null (24x7)", path);
}
