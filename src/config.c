/*
 * Config loader. The defaults (config_defaults.c) and the user's file are both
 * JSON; the file is merged over the defaults object by object, then the
 * environment overrides single values, then one validation pass walks the
 * result and records every problem with its JSON path. Nothing is read after
 * loading: the struct is immutable and shared by all threads.
 */
#include "gw_config.h"

#include <jansson.h>

#include "config_private.h"
#include "gw_channel.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* NULL-terminated so it doubles as the list of keys allowed under "sla". */
static const char *const priority_names[GW_PRIO__COUNT + 1] = {"urgent", "important", "normal",
                                                               NULL};

const char *gw_priority_name(enum gw_priority p)
{
    return (unsigned)p < GW_PRIO__COUNT ? priority_names[p] : "normal";
}

void gw_problems_unknown_keys(struct gw_problems *p, const void *object, const char *const *known,
                              const char *where)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)object, key, val)
    {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= !strcmp(*k, key);
        if (!ok)
            gw_problems_add(p, "%s.%s: unknown setting", where, key);
    }
}

void gw_problems_add(struct gw_problems *p, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **grown = realloc(p->items, (p->n + 1) * sizeof(*grown));
    if (!grown)
        return;
    p->items = grown;
    p->items[p->n] = strdup(buf);
    if (p->items[p->n])
        p->n++;
}

void gw_problems_clear(struct gw_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i]);
    free(p->items);
    p->items = NULL;
    p->n = 0;
}

static int parse_priority(const char *s)
{
    for (int i = 0; i < GW_PRIO__COUNT; i++)
        if (!strcmp(s, priority_names[i]))
            return i;
    return -1;
}

/* Whether an adapter reads the setting at path + key itself (gw_channel.settings_paths). */
static bool adapter_setting(const char *path, const char *key)
{
    size_t n = strlen(path);
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        for (const char *const *p = (*c)->settings_paths; p && *p; p++)
            if (!strncmp(*p, path, n) && !strcmp(*p + n, key))
                return true;
    return false;
}

/* Known keys per object, so a typo in a file is reported instead of ignored. */
void cfg_keys(json_t *obj, const char *path, const char *const *known, struct gw_problems *pr)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        int ok = adapter_setting(path, key);
        for (const char *const *k = known; *k; k++)
            if (!strcmp(*k, key))
                ok = 1;
        if (!ok)
            gw_problems_add(pr, "%s%s: unknown setting", path, key);
    }
}

char *cfg_str(json_t *obj, const char *key, const char *path, int nullable, struct gw_problems *pr)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (!nullable)
            gw_problems_add(pr, "%s%s: required", path, key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        gw_problems_add(pr, "%s%s: must be a non-empty string", path, key);
        return NULL;
    }
    return strdup(json_string_value(v));
}

int cfg_int(json_t *obj, const char *key, const char *path, long lo, long hi,
            struct gw_problems *pr)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        gw_problems_add(pr, "%s%s: must be an integer", path, key);
        return (int)lo;
    }
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi) {
        gw_problems_add(pr, "%s%s: %lld is outside %ld..%ld", path, key, (long long)n, lo, hi);
        return (int)lo;
    }
    return (int)n;
}

json_t *cfg_obj(json_t *root, const char *key, struct gw_problems *pr)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_object(v)) {
        gw_problems_add(pr, "%s: must be an object", key);
        return NULL;
    }
    return v;
}

static char **get_keywords(json_t *arr, const char *path, size_t *n_out, struct gw_problems *pr)
{
    *n_out = 0;
    if (!json_is_array(arr)) {
        gw_problems_add(pr, "%s: must be an array of strings", path);
        return NULL;
    }
    size_t n = json_array_size(arr);
    char **out = calloc(n + 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(arr, i);
        if (!json_is_string(k) || json_string_length(k) == 0) {
            gw_problems_add(pr, "%s[%zu]: must be a non-empty string", path, i);
            continue;
        }
        /* Lower-cased once here; classification lower-cases the text the same way. */
        char *kw = strdup(json_string_value(k));
        for (char *c = kw; c && *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (kw)
            out[(*n_out)++] = kw;
    }
    return out;
}

static int valid_queue_name(const char *s)
{
    if (!*s || strlen(s) > 31)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static void parse_listen(struct gw_config *cfg, const char *listen, const char *what,
                         struct gw_problems *pr)
{
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == listen || !end || *end || port < 1 || port > 65535) {
        gw_problems_add(pr, "%s: \"%s\" is not host:port", what, listen);
        return;
    }
    free(cfg->listen_host);
    size_t hl = (size_t)(colon - listen);
    /* Accept [::1]:8080 as well as 127.0.0.1:8080. */
    if (listen[0] == '[' && hl >= 2 && listen[hl - 1] == ']')
        cfg->listen_host = strndup(listen + 1, hl - 2);
    else
        cfg->listen_host = strndup(listen, hl);
    cfg->listen_port = (int)port;
}

static void load_classification(struct gw_config *cfg, json_t *cls, struct gw_problems *pr)
{
    static const char *const keys[] = {"default_category", "categories", "priority_keywords", NULL};
    cfg_keys(cls, "classification.", keys, pr);
    json_t *cats = json_object_get(cls, "categories");
    if (!json_is_array(cats) || json_array_size(cats) == 0) {
        gw_problems_add(pr, "classification.categories: must be a non-empty array");
        return;
    }
    cfg->categories = calloc(json_array_size(cats), sizeof(*cfg->categories));
    if (!cfg->categories)
        return;
    size_t i;
    json_t *c;
    json_array_foreach(cats, i, c)
    {
        char path[64];
        snprintf(path, sizeof(path), "classification.categories[%zu].", i);
        if (!json_is_object(c)) {
            gw_problems_add(pr, "%s: must be an object", path);
            continue;
        }
        static const char *const ckeys[] = {"name", "queue", "min_priority", "keywords", NULL};
        cfg_keys(c, path, ckeys, pr);
        struct gw_category *cat = &cfg->categories[cfg->n_categories++];
        cat->name = cfg_str(c, "name", path, 0, pr);
        cat->queue = cfg_str(c, "queue", path, 0, pr);
        if (cat->queue && !valid_queue_name(cat->queue))
            gw_problems_add(pr, "%squeue: \"%s\" must be 1-31 of a-z 0-9 _ -", path, cat->queue);
        cat->min_priority = GW_PRIO_NORMAL;
        json_t *mp = json_object_get(c, "min_priority");
        if (mp && !json_is_null(mp)) {
            int p = json_is_string(mp) ? parse_priority(json_string_value(mp)) : -1;
            if (p < 0)
                gw_problems_add(pr, "%smin_priority: must be urgent, important or normal", path);
            else
                cat->min_priority = (enum gw_priority)p;
        }
        char kpath[80];
        snprintf(kpath, sizeof(kpath), "%skeywords", path);
        cat->keywords = get_keywords(json_object_get(c, "keywords"), kpath, &cat->n_keywords, pr);
        for (size_t j = 0; cat->name && j + 1 < cfg->n_categories; j++)
            if (cfg->categories[j].name && !strcmp(cfg->categories[j].name, cat->name))
                gw_problems_add(pr, "%sname: \"%s\" appears twice", path, cat->name);
    }
    char *def = cfg_str(cls, "default_category", "classification.", 0, pr);
    int found = 0;
    for (size_t j = 0; def && j < cfg->n_categories; j++)
        if (cfg->categories[j].name && !strcmp(cfg->categories[j].name, def)) {
            cfg->default_category = j;
            found = 1;
        }
    if (def && !found)
        gw_problems_add(pr, "classification.default_category: \"%s\" is not a category", def);
    free(def);

    json_t *pk = json_object_get(cls, "priority_keywords");
    if (!json_is_object(pk)) {
        gw_problems_add(pr, "classification.priority_keywords: must be an object");
        return;
    }
    static const char *const pkeys[] = {"urgent", "important", NULL};
    cfg_keys(pk, "classification.priority_keywords.", pkeys, pr);
    for (int p = GW_PRIO_URGENT; p <= GW_PRIO_IMPORTANT; p++) {
        char path[64];
        snprintf(path, sizeof(path), "classification.priority_keywords.%s", priority_names[p]);
        cfg->priority_keywords[p] = get_keywords(json_object_get(pk, priority_names[p]), path,
                                                 &cfg->n_priority_keywords[p], pr);
    }
}

static void load_sla(struct gw_config *cfg, json_t *sla, struct gw_problems *pr)
{
    cfg_keys(sla, "sla.", priority_names, pr);
    for (int p = 0; p < GW_PRIO__COUNT; p++) {
        char path[32];
        snprintf(path, sizeof(path), "sla.%s.", priority_names[p]);
        json_t *row = json_object_get(sla, priority_names[p]);
        if (!json_is_object(row)) {
            gw_problems_add(pr, "%.*s: must be an object", (int)strlen(path) - 1, path);
            continue;
        }
        static const char *const keys[] = {"first_response_minutes", "handling_hours", NULL};
        cfg_keys(row, path, keys, pr);
        cfg->sla[p].first_response_s =
            60 * cfg_int(row, "first_response_minutes", path, 1, 60 * 24 * 30, pr);
        cfg->sla[p].handling_s = 3600 * cfg_int(row, "handling_hours", path, 1, 24 * 90, pr);
    }
}

static void load_smtp(struct gw_config *cfg, json_t *smtp, struct gw_problems *pr)
{
    static const char *const k[] = {"url", "starttls", "user", "password", "ca_file", NULL};
    cfg_keys(smtp, "smtp.", k, pr);
    char *url = cfg_str(smtp, "url", "smtp.", 1, pr);
    if (url) {
        if (strncmp(url, "smtp://", 7) || !url[7] || strchr(url + 7, '/'))
            gw_problems_add(pr, "smtp.url: \"%s\" is not smtp://host:port", url);
        else
            cfg->smtp_hostport = strdup(url + 7);
        free(url);
    }
    char *tls = cfg_str(smtp, "starttls", "smtp.", 0, pr);
    static const char *const modes[] = {"no", "if-offered", "required"};
    cfg->smtp_starttls = -1;
    for (int i = 0; tls && i < 3; i++)
        if (!strcmp(tls, modes[i]))
            cfg->smtp_starttls = i;
    if (tls && cfg->smtp_starttls < 0)
        gw_problems_add(pr, "smtp.starttls: must be no, if-offered or required");
    free(tls);
    cfg->smtp_user = cfg_str(smtp, "user", "smtp.", 1, pr);
    cfg->smtp_password = cfg_str(smtp, "password", "smtp.", 1, pr);
    cfg->smtp_ca_file = cfg_str(smtp, "ca_file", "smtp.", 1, pr);
    if (cfg->smtp_ca_file && access(cfg->smtp_ca_file, R_OK) != 0)
        gw_problems_add(pr, "smtp.ca_file: cannot read %s", cfg->smtp_ca_file);
}

/* Each channel checks its own section; unknown channel names are typos. */
static void load_channels(struct gw_config *cfg, json_t *root, struct gw_problems *pr)
{
    json_t *chs = json_object_get(root, "channels");
    if (chs && !json_is_object(chs)) {
        gw_problems_add(pr, "channels: must be an object");
        return;
    }
    const char *name;
    json_t *section;
    json_object_foreach(chs, name, section)
    {
        const struct gw_channel *ch = gw_channel_find(name);
        if (!ch)
            gw_problems_add(pr, "channels.%s: no such channel", name);
        else if (!json_is_object(section))
            gw_problems_add(pr, "channels.%s: must be an object", name);
    }
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        if ((*c)->check_config) {
            json_t *s = json_object_get(chs, (*c)->name);
            (*c)->check_config(json_is_object(s) ? s : NULL, pr);
        }
    cfg->channels = chs ? json_incref(chs) : json_object();
}

const void *gw_config_channel(const struct gw_config *cfg, const char *channel)
{
    return json_object_get(cfg->channels, channel);
}

/* Adapters read what they own outside "channels" (gw_channel.settings_paths) themselves. */
static void load_adapter_settings(struct gw_config *cfg, json_t *root, struct gw_problems *pr)
{
    size_t n = 0;
    while (gw_channels[n])
        n++;
    cfg->adapter_settings = calloc(n + 1, sizeof(*cfg->adapter_settings));
    if (!cfg->adapter_settings) {
        gw_problems_add(pr, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (gw_channels[i]->load_settings)
            cfg->adapter_settings[i] = gw_channels[i]->load_settings(root, cfg, pr);
}

const void *gw_config_settings(const struct gw_config *cfg, const char *adapter)
{
    for (size_t i = 0; cfg->adapter_settings && gw_channels[i]; i++)
        if (!strcmp(gw_channels[i]->name, adapter))
            return cfg->adapter_settings[i];
    return NULL;
}

static void load_rest(struct gw_config *cfg, json_t *root, struct gw_problems *pr)
{
    static const char *const keys[] = {"listen",   "public_url",     "database_url",   "api_token",
                                       "database", "limits",         "numbers",        "sla",
                                       "outbox",   "escalation",     "classification", "channels",
                                       "smtp",     "business_hours", "queues",         NULL};
    cfg_keys(root, "", keys, pr);

    char *listen = cfg_str(root, "listen", "", 0, pr);
    if (listen)
        parse_listen(cfg, listen, "listen", pr);
    free(listen);
    cfg->public_url = cfg_str(root, "public_url", "", 0, pr);
    if (cfg->public_url && strncmp(cfg->public_url, "http://", 7) &&
        strncmp(cfg->public_url, "https://", 8))
        gw_problems_add(pr, "public_url: must start with http:// or https://");
    cfg->database_url = cfg_str(root, "database_url", "", 0, pr);
    cfg->api_token = cfg_str(root, "api_token", "", 1, pr);

    json_t *db = cfg_obj(root, "database", pr);
    if (db) {
        static const char *const k[] = {"workers", "batch_max", "queue_max", NULL};
        cfg_keys(db, "database.", k, pr);
        /* 0: half the CPUs, at least one (see gw_config.h). */
        cfg->db_workers = cfg_int(db, "workers", "database.", 0, 64, pr);
        if (cfg->db_workers == 0) {
            long cpus = sysconf(_SC_NPROCESSORS_ONLN);
            cfg->db_workers = cpus >= 4 ? (int)(cpus / 2) : 1;
        }
        cfg->db_batch_max = cfg_int(db, "batch_max", "database.", 1, 1000, pr);
        cfg->queue_max = cfg_int(db, "queue_max", "database.", 1, 1000000, pr);
    }
    json_t *lim = cfg_obj(root, "limits", pr);
    if (lim) {
        static const char *const k[] = {"max_body_bytes",      "requests_per_second_per_client",
                                        "request_burst",       "auth_failures_per_minute",
                                        "socket_idle_seconds", NULL};
        cfg_keys(lim, "limits.", k, pr);
        cfg->max_body = (size_t)cfg_int(lim, "max_body_bytes", "limits.", 1024, 64 << 20, pr);
        cfg->rate_per_client =
            cfg_int(lim, "requests_per_second_per_client", "limits.", 0, 1000000, pr);
        cfg->rate_burst = cfg_int(lim, "request_burst", "limits.", 1, 1000000, pr);
        cfg->auth_failures_per_min =
            cfg_int(lim, "auth_failures_per_minute", "limits.", 0, 100000, pr);
        cfg->socket_idle_s = cfg_int(lim, "socket_idle_seconds", "limits.", 4, 3600, pr);
    }
    json_t *num = cfg_obj(root, "numbers", pr);
    if (num) {
        static const char *const k[] = {"ticket_prefix", "customer_prefix", NULL};
        cfg_keys(num, "numbers.", k, pr);
        cfg->ticket_prefix = cfg_str(num, "ticket_prefix", "numbers.", 0, pr);
        cfg->customer_prefix = cfg_str(num, "customer_prefix", "numbers.", 0, pr);
    }
    json_t *sla = cfg_obj(root, "sla", pr);
    if (sla)
        load_sla(cfg, sla, pr);
    json_t *esc = cfg_obj(root, "escalation", pr);
    if (esc) {
        static const char *const k[] = {"resolve_hours", "respond_hours", NULL};
        cfg_keys(esc, "escalation.", k, pr);
        cfg_load_escalation(cfg, esc, pr);
    }
    json_t *ob = cfg_obj(root, "outbox", pr);
    if (ob) {
        static const char *const k[] = {"max_attempts", "backoff_seconds", "poll_ms",
                                        "lease_seconds", NULL};
        cfg_keys(ob, "outbox.", k, pr);
        cfg->outbox_max_attempts = cfg_int(ob, "max_attempts", "outbox.", 1, 100, pr);
        cfg->outbox_backoff_s = cfg_int(ob, "backoff_seconds", "outbox.", 1, 86400, pr);
        cfg->outbox_poll_ms = cfg_int(ob, "poll_ms", "outbox.", 10, 60000, pr);
        cfg->outbox_lease_s = cfg_int(ob, "lease_seconds", "outbox.", 5, 86400, pr);
    }
    json_t *cls = cfg_obj(root, "classification", pr);
    if (cls)
        load_classification(cfg, cls, pr);
    json_t *smtp = cfg_obj(root, "smtp", pr);
    if (smtp)
        load_smtp(cfg, smtp, pr);
    cfg_load_service(cfg, root, pr);
    load_channels(cfg, root, pr);
    load_adapter_settings(cfg, root, pr);
}

/* Environment wins over the file, so secrets need not be written to disk. */
static void apply_env(json_t *root)
{
    static const struct {
        const char *env, *section, *key;
    } map[] = {{"INTAKE_DATABASE_URL", NULL, "database_url"},
               {"INTAKE_LISTEN", NULL, "listen"},
               {"INTAKE_PUBLIC_URL", NULL, "public_url"},
               {"INTAKE_API_TOKEN", NULL, "api_token"},
               {"INTAKE_SMTP_URL", "smtp", "url"},
               {"INTAKE_SMTP_USER", "smtp", "user"},
               {"INTAKE_SMTP_PASSWORD", "smtp", "password"},
               {"INTAKE_SMTP_CA_FILE", "smtp", "ca_file"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const char *v = getenv(map[i].env);
        json_t *obj = map[i].section ? json_object_get(root, map[i].section) : root;
        if (v && *v && json_is_object(obj))
            json_object_set_new(obj, map[i].key, json_string(v));
    }
}

static enum gw_err finish(json_t *user, struct gw_config **out, struct gw_problems *pr)
{
    size_t before = pr->n;
    json_error_t jerr;
    json_t *root = json_loads(gw_config_defaults, 0, &jerr);
    if (!root) {
        gw_problems_add(pr, "built-in defaults: %s", jerr.text);
        return GW_ERR_CONFIG;
    }
    if (user) {
        if (!json_is_object(user))
            gw_problems_add(pr, "the file must hold one JSON object");
        else
            json_object_update_recursive(root, user);
    }
    apply_env(root);
    struct gw_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        json_decref(root);
        return GW_ERR_NOMEM;
    }
    load_rest(cfg, root, pr);
    json_decref(root);
    if (pr->n > before) {
        gw_config_free(cfg);
        return GW_ERR_CONFIG;
    }
    *out = cfg;
    return GW_OK;
}

enum gw_err gw_config_load_text(const char *json_text, struct gw_config **out,
                                struct gw_problems *problems)
{
    json_t *user = NULL;
    if (json_text) {
        json_error_t jerr;
        user = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
        if (!user) {
            gw_problems_add(problems, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
            return GW_ERR_CONFIG;
        }
    }
    enum gw_err err = finish(user, out, problems);
    json_decref(user);
    return err;
}

enum gw_err gw_config_load(const char *path, struct gw_config **out, struct gw_problems *problems)
{
    json_t *user = NULL;
    if (path) {
        json_error_t jerr;
        user = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!user) {
            gw_problems_add(problems, "%s: line %d column %d: %s", path, jerr.line, jerr.column,
                            jerr.text);
            return GW_ERR_CONFIG;
        }
    }
    enum gw_err err = finish(user, out, problems);
    json_decref(user);
    return err;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

void gw_config_free(struct gw_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->database_url);
    free(cfg->listen_host);
    free(cfg->public_url);
    free(cfg->api_token);
    free(cfg->ticket_prefix);
    free(cfg->customer_prefix);
    for (size_t i = 0; i < cfg->n_categories; i++) {
        free(cfg->categories[i].name);
        free(cfg->categories[i].queue);
        free_list(cfg->categories[i].keywords, cfg->categories[i].n_keywords);
    }
    free(cfg->categories);
    json_decref(cfg->channels);
    free(cfg->smtp_hostport);
    free(cfg->smtp_user);
    free(cfg->smtp_password);
    free(cfg->smtp_ca_file);
    free(cfg->business_hours);
    for (size_t i = 0; i < cfg->n_queue_hooks; i++) {
        free(cfg->queue_hooks[i].queue);
        free(cfg->queue_hooks[i].url);
        free(cfg->queue_hooks[i].secret);
    }
    free(cfg->queue_hooks);
    for (size_t i = 0; cfg->adapter_settings && gw_channels[i]; i++)
        if (cfg->adapter_settings[i] && gw_channels[i]->free_settings)
            gw_channels[i]->free_settings(cfg->adapter_settings[i]);
    free(cfg->adapter_settings);
    for (int p = 0; p < GW_PRIO__COUNT; p++)
        free_list(cfg->priority_keywords[p], cfg->n_priority_keywords[p]);
    free(cfg);
}
