/*
 * The table of keys: every setting the file may hold, in the order it is
 * read and its problems are reported, with its type, range, target field and
 * environment variable; the hooks below do what a row cannot say (parse
 * host:port, resolve a category's name, hand "channels" to the adapters).
 * Adapters' own settings are not here: they are named by each adapter's
 * settings_paths (gw_channel.h), which the unknown-key check also accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_private.h"
#include "gw_channel.h"
#include "gw_client_address.h"
#include "gw_log.h"
#include "gw_oauth.h"

static const char *const priority_names[GW_PRIO__COUNT] = {"urgent", "important", "normal"};

const char *gw_priority_name(enum gw_priority p)
{
    return (unsigned)p < GW_PRIO__COUNT ? priority_names[p] : "normal";
}

static const char *str_of(json_t *value)
{
    return json_string_value(value);
}

static void listen_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                        struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    const char *listen = str_of(value);
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == listen || !end || *end || port < 1 || port > 65535) {
        gw_problems_add(pr, "%s: \"%s\" is not host:port", path, listen);
        return;
    }
    size_t hl = (size_t)(colon - listen);
    /* Accept [::1]:8080 as well as 127.0.0.1:8080. */
    if (listen[0] == '[' && hl >= 2 && listen[hl - 1] == ']')
        cfg->listen_host = strndup(listen + 1, hl - 2);
    else
        cfg->listen_host = strndup(listen, hl);
    cfg->listen_port = (int)port;
}

void gw_cfg_http_url(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                     struct gw_problems *pr)
{
    (void)row, (void)base;
    if (strncmp(str_of(value), "http://", 7) && strncmp(str_of(value), "https://", 8))
        gw_problems_add(pr, "%s: must start with http:// or https://", path);
}

/* 0: half the CPUs, at least one (see gw_config.h). */
static void workers_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                         struct gw_problems *pr)
{
    (void)value, (void)path, (void)pr;
    int *workers = (int *)((char *)base + row->offset);
    if (*workers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        *workers = cpus >= 4 ? (int)(cpus / 2) : 1;
    }
}

static void queue_name_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                            const char *path, struct gw_problems *pr)
{
    (void)row, (void)base;
    const char *s = str_of(value);
    bool ok = strlen(s) <= 31;
    for (const char *c = s; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
    if (!ok)
        gw_problems_add(pr, "%s: \"%s\" must be 1-31 of a-z 0-9 _ -", path, s);
}

static void min_priority_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                              const char *path, struct gw_problems *pr)
{
    (void)row;
    struct gw_category *cat = base;
    cat->min_priority = GW_PRIO_NORMAL;
    if (!value || json_is_null(value))
        return;
    for (int p = 0; json_is_string(value) && p < GW_PRIO__COUNT; p++)
        if (!strcmp(str_of(value), priority_names[p])) {
            cat->min_priority = (enum gw_priority)p;
            return;
        }
    gw_problems_add(pr, "%s: must be urgent, important or normal", path);
}

#define CAT(field) offsetof(struct gw_category, field)
static const struct gw_cfg_key category_keys[] = {
    {.path = "name", .type = GW_CFG_STRING, .offset = CAT(name)},
    {.path = "queue", .type = GW_CFG_STRING, .offset = CAT(queue), .hook = queue_name_hook},
    {.path = "min_priority", .type = GW_CFG_HOOK, .hook = min_priority_hook},
    {.path = "keywords",
     .type = GW_CFG_WORDS,
     .offset = CAT(keywords),
     .n_offset = CAT(n_keywords)},
    {0}};

static void categories_hook(const struct gw_cfg_key *row, void *base, json_t *cats,
                            const char *path, struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    if (!json_is_array(cats) || json_array_size(cats) == 0) {
        gw_problems_add(pr, "%s: must be a non-empty array", path);
        return;
    }
    cfg->categories = calloc(json_array_size(cats), sizeof(*cfg->categories));
    if (!cfg->categories)
        return;
    size_t i;
    json_t *c;
    json_array_foreach(cats, i, c)
    {
        char at[64];
        snprintf(at, sizeof(at), "%s[%zu].", path, i);
        if (!json_is_object(c)) {
            gw_problems_add(pr, "%s: must be an object", at);
            continue;
        }
        struct gw_category *cat = &cfg->categories[cfg->n_categories++];
        gw_cfg_load(category_keys, cat, c, at, pr);
        for (size_t j = 0; cat->name && j + 1 < cfg->n_categories; j++)
            if (cfg->categories[j].name && !strcmp(cfg->categories[j].name, cat->name))
                gw_problems_add(pr, "%sname: \"%s\" appears twice", at, cat->name);
    }
}

static void default_category_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                                  const char *path, struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    if (!cfg->categories)
        return; /* "categories" is wrong already: nothing to look the name up in */
    for (size_t j = 0; j < cfg->n_categories; j++)
        if (cfg->categories[j].name && !strcmp(cfg->categories[j].name, str_of(value))) {
            cfg->default_category = j;
            return;
        }
    gw_problems_add(pr, "%s: \"%s\" is not a category", path, str_of(value));
}

static void smtp_url_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                          struct gw_problems *pr)
{
    (void)row;
    const char *url = str_of(value);
    if (strncmp(url, "smtp://", 7) || !url[7] || strchr(url + 7, '/'))
        /* Not quoted: a URL with user:password@ in it would put the password on screen. */
        gw_problems_add(pr,
                        "%s: must be smtp://host:port (a user and password go in smtp.user "
                        "and smtp.password)",
                        path);
    else
        ((struct gw_config *)base)->smtp_hostport = strdup(url + 7);
}

static void starttls_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                          struct gw_problems *pr)
{
    (void)row;
    static const char *const modes[] = {"no", "if-offered", "required"};
    struct gw_config *cfg = base;
    cfg->smtp_starttls = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(str_of(value), modes[i]))
            cfg->smtp_starttls = i;
    if (cfg->smtp_starttls < 0)
        gw_problems_add(pr, "%s: must be no, if-offered or required", path);
}

static void readable_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                          struct gw_problems *pr)
{
    (void)row, (void)base;
    if (access(str_of(value), R_OK) != 0)
        gw_problems_add(pr, "%s: cannot read %s", path, str_of(value));
}

static void log_format_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                            const char *path, struct gw_problems *pr)
{
    (void)row;
    int f = gw_log_format_parse(str_of(value));
    if (f < 0)
        gw_problems_add(pr, "%s: must be \"text\", \"keyvalue\" or \"json\"", path);
    else
        ((struct gw_config *)base)->log_format = f;
}

static void log_level_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                           const char *path, struct gw_problems *pr)
{
    (void)row;
    int level = gw_log_level_parse(str_of(value));
    if (level < 0)
        gw_problems_add(pr, "%s: must be \"debug\", \"info\", \"warn\" or \"error\"", path);
    else
        ((struct gw_config *)base)->log_level = level;
}

static void trusted_proxies_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                                 const char *path, struct gw_problems *pr)
{
    (void)row, (void)value;
    const struct gw_config *cfg = base;
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++)
        if (!gw_client_cidr_valid(cfg->trusted_proxies[i]))
            gw_problems_add(pr, "%s[%zu]: \"%s\" is not an address or CIDR (10.0.0.0/8, ::1)", path,
                            i, cfg->trusted_proxies[i]);
}

/*
 * tls.key_file, read after tls.cert_file: the two come together or not at
 * all. Whether the files are usable is gw_tls_check_config's (check-config
 * and serve): other commands never open them.
 */
static void tls_key_hook(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                         struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    if (value && !json_is_null(value)) {
        if (!json_is_string(value) || json_string_length(value) == 0)
            gw_problems_add(pr, "%s: must be a non-empty string", path);
        else if (!cfg->tls_cert_file)
            gw_problems_add(pr, "tls.cert_file: required when %s is set", path);
        else
            cfg->tls_key_file = strdup(str_of(value));
    } else if (cfg->tls_cert_file)
        gw_problems_add(pr, "%s: required when tls.cert_file is set", path);
}

/* "password" (libesmtp, smtp.user/password) or "xoauth2" (libcurl, smtp.oauth). */
static void smtp_auth_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                           const char *path, struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    cfg->smtp_xoauth2 = !strcmp(str_of(value), "xoauth2");
    if (!cfg->smtp_xoauth2 && strcmp(str_of(value), "password"))
        gw_problems_add(pr, "%s: must be password or xoauth2", path);
}

/* Read after smtp.auth: with xoauth2, the account's settings and a user are required. */
static void smtp_oauth_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                            const char *path, struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    if (value && !json_is_null(value)) {
        gw_oauth_check(value, path, pr);
        cfg->smtp_oauth = json_incref(value);
    }
    if (cfg->smtp_xoauth2 && !cfg->smtp_oauth)
        gw_problems_add(pr, "%s: required when smtp.auth is xoauth2", path);
    if (cfg->smtp_xoauth2 && !cfg->smtp_user)
        gw_problems_add(pr, "smtp.user: required when smtp.auth is xoauth2 (the mailbox address)");
}

/* Each channel checks its own section; unknown channel names are typos. */
static void channels_hook(const struct gw_cfg_key *row, void *base, json_t *chs, const char *path,
                          struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    if (chs && !json_is_object(chs)) {
        gw_problems_add(pr, "%s: must be an object", path);
        return;
    }
    const char *name;
    json_t *section;
    json_object_foreach(chs, name, section)
    {
        if (!gw_channel_find(name))
            gw_problems_add(pr, "%s.%s: no such channel", path, name);
        else if (!json_is_object(section))
            gw_problems_add(pr, "%s.%s: must be an object", path, name);
    }
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        if ((*c)->check_config) {
            json_t *s = json_object_get(chs, (*c)->name);
            (*c)->check_config(json_is_object(s) ? s : NULL, pr);
        }
    cfg->channels = chs ? json_incref(chs) : json_object();
}

/*
 * spool.channels: null (the routes that spool by default) or the channels
 * whose spooling routes spool; each must have such a route.
 */
static void spool_channels_hook(const struct gw_cfg_key *row, void *base, json_t *value,
                                const char *path, struct gw_problems *pr)
{
    (void)row;
    struct gw_config *cfg = base;
    if (!value || json_is_null(value))
        return;
    if (!json_is_array(value)) {
        gw_problems_add(pr, "%s: must be null or an array of channel names", path);
        return;
    }
    cfg->spool_channels_set = true;
    cfg->spool_channels = calloc(json_array_size(value) + 1, sizeof(char *));
    size_t i;
    json_t *name;
    json_array_foreach(value, i, name)
    {
        const struct gw_channel *c = gw_channel_find(json_string_value(name));
        bool spools = false;
        for (size_t r = 0; c && r < c->n_routes; r++)
            spools |= c->routes[r].spool != GW_SPOOL_NEVER;
        if (!spools)
            gw_problems_add(pr, "%s[%zu]: %s", path, i,
                            c ? "this channel has no route that can spool" : "no such channel");
        else if (cfg->spool_channels)
            cfg->spool_channels[cfg->n_spool_channels++] = strdup(c->name);
    }
}

#define AT(field) offsetof(struct gw_config, field)
#define SECTION(p)                                                                                 \
    {                                                                                              \
        .path = p, .type = GW_CFG_OBJECT                                                           \
    }
#define STRING(p, field)                                                                           \
    {                                                                                              \
        .path = p, .type = GW_CFG_STRING, .offset = AT(field)                                      \
    }
#define INT(p, field, lo, hi)                                                                      \
    {                                                                                              \
        .path = p, .type = GW_CFG_INT, .offset = AT(field), .min = lo, .max = hi                   \
    }
#define SLA(prio, i)                                                                               \
    SECTION("sla." prio),                                                                          \
        {.path = "sla." prio ".first_response_minutes",                                            \
         .type = GW_CFG_INT,                                                                       \
         .offset = AT(sla[i].first_response_s),                                                    \
         .min = 1,                                                                                 \
         .max = 60 * 24 * 30,                                                                      \
         .scale = 60},                                                                             \
    {                                                                                              \
        .path = "sla." prio ".handling_hours", .type = GW_CFG_INT,                                 \
        .offset = AT(sla[i].handling_s), .min = 1, .max = 24 * 90, .scale = 3600                   \
    }

const struct gw_cfg_key gw_cfg_keys[] = {
    {.path = "listen",
     .type = GW_CFG_STRING,
     .offset = GW_CFG_NOWHERE,
     .env = "INTAKE_LISTEN",
     .hook = listen_hook},
    {.path = "public_url",
     .type = GW_CFG_STRING,
     .offset = AT(public_url),
     .env = "INTAKE_PUBLIC_URL",
     .hook = gw_cfg_http_url},
    {.path = "database_url",
     .type = GW_CFG_STRING,
     .offset = AT(database_url),
     .env = "INTAKE_DATABASE_URL"},
    {.path = "api_token",
     .type = GW_CFG_STRING,
     .offset = AT(api_token),
     .nullable = true,
     .env = "INTAKE_API_TOKEN"},

    SECTION("database"),
    {.path = "database.workers",
     .type = GW_CFG_INT,
     .offset = AT(db_workers),
     .min = 0,
     .max = 64,
     .hook = workers_hook},
    INT("database.batch_max", db_batch_max, 1, 1000),
    INT("database.queue_max", queue_max, 1, 1000000),

    SECTION("limits"),
    {.path = "limits.max_body_bytes",
     .type = GW_CFG_SIZE,
     .offset = AT(max_body),
     .min = 1024,
     .max = 64 << 20},
    INT("limits.requests_per_second_per_client", rate_per_client, 0, 1000000),
    INT("limits.request_burst", rate_burst, 1, 1000000),
    INT("limits.auth_failures_per_minute", auth_failures_per_min, 0, 100000),
    INT("limits.socket_idle_seconds", socket_idle_s, 4, 3600),

    SECTION("numbers"),
    STRING("numbers.ticket_prefix", ticket_prefix),
    STRING("numbers.customer_prefix", customer_prefix),

    SECTION("sla"),
    SLA("urgent", GW_PRIO_URGENT),
    SLA("important", GW_PRIO_IMPORTANT),
    SLA("normal", GW_PRIO_NORMAL),

    SECTION("escalation"),
    {.path = "escalation.resolve_hours",
     .type = GW_CFG_HOOK,
     .offset = AT(resolve_s),
     .hook = gw_cfg_levels},
    {.path = "escalation.respond_hours",
     .type = GW_CFG_HOOK,
     .offset = AT(respond_s),
     .hook = gw_cfg_levels},

    SECTION("outbox"),
    INT("outbox.max_attempts", outbox_max_attempts, 1, 100),
    INT("outbox.backoff_seconds", outbox_backoff_s, 1, 86400),
    INT("outbox.poll_ms", outbox_poll_ms, 10, 60000),
    INT("outbox.lease_seconds", outbox_lease_s, 5, 86400),
    INT("outbox.probe_seconds", outbox_probe_s, 1, 3600),

    SECTION("classification"),
    {.path = "classification.categories", .type = GW_CFG_HOOK, .hook = categories_hook},
    {.path = "classification.default_category",
     .type = GW_CFG_STRING,
     .offset = GW_CFG_NOWHERE,
     .hook = default_category_hook},
    SECTION("classification.priority_keywords"),
    {.path = "classification.priority_keywords.urgent",
     .type = GW_CFG_WORDS,
     .offset = AT(priority_keywords[GW_PRIO_URGENT]),
     .n_offset = AT(n_priority_keywords[GW_PRIO_URGENT])},
    {.path = "classification.priority_keywords.important",
     .type = GW_CFG_WORDS,
     .offset = AT(priority_keywords[GW_PRIO_IMPORTANT]),
     .n_offset = AT(n_priority_keywords[GW_PRIO_IMPORTANT])},

    SECTION("smtp"),
    {.path = "smtp.url",
     .type = GW_CFG_STRING,
     .offset = GW_CFG_NOWHERE,
     .nullable = true,
     .env = "INTAKE_SMTP_URL",
     .hook = smtp_url_hook},
    {.path = "smtp.starttls",
     .type = GW_CFG_STRING,
     .offset = GW_CFG_NOWHERE,
     .hook = starttls_hook},
    {.path = "smtp.user",
     .type = GW_CFG_STRING,
     .offset = AT(smtp_user),
     .nullable = true,
     .env = "INTAKE_SMTP_USER"},
    {.path = "smtp.password",
     .type = GW_CFG_STRING,
     .offset = AT(smtp_password),
     .nullable = true,
     .env = "INTAKE_SMTP_PASSWORD"},
    {.path = "smtp.ca_file",
     .type = GW_CFG_STRING,
     .offset = AT(smtp_ca_file),
     .nullable = true,
     .env = "INTAKE_SMTP_CA_FILE",
     .hook = readable_hook},

    {.path = "smtp.auth", .type = GW_CFG_STRING, .offset = GW_CFG_NOWHERE, .hook = smtp_auth_hook},
    {.path = "smtp.oauth", .type = GW_CFG_HOOK, .hook = smtp_oauth_hook},

    SECTION("spool"),
    {.path = "spool.dir",
     .type = GW_CFG_STRING,
     .offset = AT(spool_dir),
     .nullable = true,
     .env = "INTAKE_SPOOL_DIR"},
    {.path = "spool.max_bytes",
     .type = GW_CFG_SIZE,
     .offset = AT(spool_max_bytes),
     .min = 4096,
     .max = 1L << 40},
    INT("spool.max_age_seconds", spool_max_age_s, 60, 30 * 86400),
    {.path = "spool.channels", .type = GW_CFG_HOOK, .hook = spool_channels_hook},

    SECTION("tls"),
    {.path = "tls.cert_file",
     .type = GW_CFG_STRING,
     .offset = AT(tls_cert_file),
     .nullable = true,
     .env = "INTAKE_TLS_CERT_FILE"},
    {.path = "tls.key_file",
     .type = GW_CFG_HOOK,
     .env = "INTAKE_TLS_KEY_FILE",
     .hook = tls_key_hook},

    {.path = "queues", .type = GW_CFG_HOOK, .hook = gw_cfg_queues},
    {.path = "business_hours", .type = GW_CFG_HOOK, .hook = gw_cfg_business_hours},
    {.path = "channels", .type = GW_CFG_HOOK, .hook = channels_hook},

    SECTION("log"),
    {.path = "log.format",
     .type = GW_CFG_STRING,
     .offset = GW_CFG_NOWHERE,
     .env = "INTAKE_LOG_FORMAT",
     .hook = log_format_hook},
    {.path = "log.level",
     .type = GW_CFG_STRING,
     .offset = GW_CFG_NOWHERE,
     .env = "INTAKE_LOG_LEVEL",
     .hook = log_level_hook},
    SECTION("server"),
    {.path = "server.trusted_proxies",
     .type = GW_CFG_WORDS,
     .offset = AT(trusted_proxies),
     .n_offset = AT(n_trusted_proxies),
     .hook = trusted_proxies_hook},
    {0}};
