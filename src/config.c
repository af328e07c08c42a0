/*
 * Config loader. The defaults (config_defaults.c) and the user's file are both
 * JSON; the file is merged over the defaults object by object, then the
 * environment overrides single values, then one pass over the table of keys
 * (config_keys.c) reads and checks every value, recording each problem with
 * its JSON path. The table drives the walk rather than the JSON, so a key the
 * loader reads is by construction a key the unknown-key check accepts. Nothing
 * is read after loading: the struct is immutable and shared by all threads.
 */
#include "gw_config.h"

#include <jansson.h>

#include "config_private.h"
#include "gw_channel.h"
#include "gw_oauth.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The value at the first len characters of a dot-separated path under obj, or NULL. */
static json_t *lookup(json_t *obj, const char *path, size_t len)
{
    char seg[64];
    for (size_t i = 0; obj && i < len;) {
        size_t n = strcspn(path + i, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, path + i, n);
        seg[n] = '\0';
        obj = json_is_object(obj) ? json_object_get(obj, seg) : NULL;
        i += n + 1;
    }
    return obj;
}

/* Reports the members of obj (at "<prefix><at>") that no row and no adapter names. */
static void unknown_keys(const struct gw_cfg_key *rows, json_t *obj, const char *prefix,
                         const char *at, struct gw_problems *pr)
{
    char where[256];
    snprintf(where, sizeof(where), "%s%s", prefix, at);
    size_t at_len = strlen(at);
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        bool ok = adapter_setting(where, key);
        for (const struct gw_cfg_key *r = rows; r->path && !ok; r++)
            ok = !strncmp(r->path, at, at_len) && !strcmp(r->path + at_len, key);
        if (!ok)
            gw_problems_add(pr, "%s%s: unknown setting", where, key);
    }
}

static bool read_string(const struct gw_cfg_key *r, void *base, json_t *v, const char *path,
                        struct gw_problems *pr)
{
    if (!v || json_is_null(v)) {
        if (!r->nullable)
            gw_problems_add(pr, "%s: required", path);
        return false;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        gw_problems_add(pr, "%s: must be a non-empty string", path);
        return false;
    }
    if (r->offset != GW_CFG_NOWHERE)
        *(char **)((char *)base + r->offset) = strdup(json_string_value(v));
    return true;
}

static bool read_int(const struct gw_cfg_key *r, void *base, json_t *v, const char *path,
                     struct gw_problems *pr)
{
    if (!json_is_integer(v)) {
        gw_problems_add(pr, "%s: must be an integer", path);
        return false;
    }
    json_int_t n = json_integer_value(v);
    if (n < r->min || n > r->max) {
        gw_problems_add(pr, "%s: %lld is outside %ld..%ld", path, (long long)n, r->min, r->max);
        return false;
    }
    if (r->type == GW_CFG_SIZE)
        *(size_t *)((char *)base + r->offset) = (size_t)n;
    else
        *(int *)((char *)base + r->offset) = (int)n * (r->scale ? r->scale : 1);
    return true;
}

static bool read_words(const struct gw_cfg_key *r, void *base, json_t *arr, const char *path,
                       struct gw_problems *pr)
{
    if (!json_is_array(arr)) {
        gw_problems_add(pr, "%s: must be an array of strings", path);
        return false;
    }
    size_t n = json_array_size(arr), *count = (size_t *)((char *)base + r->n_offset);
    char **out = calloc(n + 1, sizeof(*out));
    *(char ***)((char *)base + r->offset) = out;
    for (size_t i = 0; out && i < n; i++) {
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
            out[(*count)++] = kw;
    }
    return true;
}

static void load_row(const struct gw_cfg_key *rows, const struct gw_cfg_key *r, void *base,
                     json_t *obj, const char *prefix, struct gw_problems *pr)
{
    const char *dot = strrchr(r->path, '.');
    size_t at_len = dot ? (size_t)(dot + 1 - r->path) : 0;
    json_t *parent = lookup(obj, r->path, at_len);
    if (!json_is_object(parent))
        return; /* the section's own row has said why */
    json_t *v = json_object_get(parent, r->path + at_len);
    char path[256];
    snprintf(path, sizeof(path), "%s%s", prefix, r->path);
    bool ok = false;
    switch (r->type) {
    case GW_CFG_OBJECT:
        if (!json_is_object(v)) {
            gw_problems_add(pr, "%s: must be an object", path);
            return;
        }
        char at[128];
        snprintf(at, sizeof(at), "%s.", r->path);
        unknown_keys(rows, v, prefix, at, pr);
        ok = true;
        break;
    case GW_CFG_STRING:
        ok = read_string(r, base, v, path, pr);
        break;
    case GW_CFG_INT:
    case GW_CFG_SIZE:
        ok = read_int(r, base, v, path, pr);
        break;
    case GW_CFG_WORDS:
        ok = read_words(r, base, v, path, pr);
        break;
    case GW_CFG_HOOK:
        r->hook(r, base, v, path, pr);
        return;
    case GW_CFG_PART:
        return;
    }
    if (ok && r->hook)
        r->hook(r, base, v, path, pr);
}

void gw_cfg_load(const struct gw_cfg_key *rows, void *base, json_t *obj, const char *prefix,
                 struct gw_problems *pr)
{
    unknown_keys(rows, obj, prefix, "", pr);
    for (const struct gw_cfg_key *r = rows; r->path; r++)
        load_row(rows, r, base, obj, prefix, pr);
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

/* Environment wins over the file, so secrets need not be written to disk. */
static void apply_env(json_t *root)
{
    for (const struct gw_cfg_key *r = gw_cfg_keys; r->path; r++) {
        const char *v = r->env ? getenv(r->env) : NULL;
        const char *dot = strrchr(r->path, '.');
        json_t *obj = lookup(root, r->path, dot ? (size_t)(dot + 1 - r->path) : 0);
        if (v && *v && json_is_object(obj))
            json_object_set_new(obj, dot ? dot + 1 : r->path, json_string(v));
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
    cfg->oauth = gw_oauth_store_create();
    if (!cfg->oauth)
        gw_problems_add(pr, "out of memory");
    gw_cfg_load(gw_cfg_keys, cfg, root, "", pr);
    load_adapter_settings(cfg, root, pr);
    json_decref(root);
    if (pr->n > before) {
        gw_config_free(cfg);
        return GW_ERR_CONFIG;
    }
    *out = cfg;
    return GW_OK;
}

/*
 * jansson's syntax errors quote the text they stopped at ("invalid token
 * near 'abc'"), which may be a secret written without its quotes: the line
 * and column say where, so the quote is cut. text is the error's own buffer.
 */
static const char *without_quote(char *text)
{
    char *near = strstr(text, " near '");
    if (near)
        *near = '\0';
    return text;
}

enum gw_err gw_config_load_text(const char *json_text, struct gw_config **out,
                                struct gw_problems *problems)
{
    json_t *user = NULL;
    if (json_text) {
        json_error_t jerr;
        user = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
        if (!user) {
            gw_problems_add(problems, "line %d column %d: %s", jerr.line, jerr.column,
                            without_quote(jerr.text));
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
                            without_quote(jerr.text));
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
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    json_decref(cfg->smtp_oauth);
    gw_oauth_store_destroy(cfg->oauth);
    free(cfg->business_hours);
    free(cfg->spool_dir);
    free_list(cfg->spool_channels, cfg->n_spool_channels);
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
    free_list(cfg->trusted_proxies, cfg->n_trusted_proxies);
    free(cfg);
}
