/*
 * The config loader's table of keys, shared by its files: every setting is
 * one row saying where it sits in the JSON, what it must be and where it
 * lands in the struct it fills, so that loading, validation and the check
 * for unknown keys read the same list and cannot drift apart (PgBouncer's
 * cf_parameters, nginx's directives).
 */
#ifndef GW_CONFIG_PRIVATE_H
#define GW_CONFIG_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_config.h"

enum gw_cfg_type {
    GW_CFG_OBJECT, /* a section: its members are rows of their own, any other is unknown */
    GW_CFG_STRING, /* a non-empty string, strdup'ed into a char * */
    GW_CFG_INT,    /* an integer within min..max, times scale, into an int */
    GW_CFG_SIZE,   /* the same into a size_t */
    GW_CFG_WORDS,  /* an array of strings, lower-cased, into a char ** and its count */
    GW_CFG_HOOK,   /* read by the row's hook alone (arrays, maps, calendars) */
    GW_CFG_PART,   /* a known member that its section's hook reads */
};

/* A row's offset when the value is checked here but stored by the hook. */
#define GW_CFG_NOWHERE ((size_t)-1)

struct gw_cfg_key {
    const char *path; /* from the table's object, dot-separated; NULL ends a table */
    enum gw_cfg_type type;
    size_t offset;   /* into the struct the table fills */
    size_t n_offset; /* GW_CFG_WORDS: where the count goes */
    long min, max;   /* GW_CFG_INT, GW_CFG_SIZE */
    int scale;       /* GW_CFG_INT: stored as value * scale; 0 means 1 */
    bool nullable;   /* GW_CFG_STRING: absent or null is allowed and leaves NULL */
    const char *env; /* an environment variable that overrides the value */
    /*
     * GW_CFG_HOOK: reads value (NULL when absent) at path into base. Other
     * types: runs once the value was read and found valid, for what the type
     * cannot say (a URL's scheme, a derived field). NULL: nothing more.
     */
    void (*hook)(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                 struct gw_problems *pr);
};

/*
 * Loads obj by rows into base: reports members no row names (nor an adapter's
 * settings_paths) as unknown, then reads every row in order. prefix is obj's
 * own path for messages ("" for the file, "queues.sales." for a member).
 */
void gw_cfg_load(const struct gw_cfg_key *rows, void *base, json_t *obj, const char *prefix,
                 struct gw_problems *pr);

/* config_keys.c: the file's table, and the check that a URL is http(s). */
extern const struct gw_cfg_key gw_cfg_keys[];
void gw_cfg_http_url(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                     struct gw_problems *pr);

/* config_service.c: escalation tiers, business hours, queues' webhooks. */
void gw_cfg_levels(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                   struct gw_problems *pr);
void gw_cfg_business_hours(const struct gw_cfg_key *row, void *base, json_t *value,
                           const char *path, struct gw_problems *pr);
void gw_cfg_queues(const struct gw_cfg_key *row, void *base, json_t *value, const char *path,
                   struct gw_problems *pr);

#endif
