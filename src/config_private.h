/*
 * Helpers shared by the config loader's files: each reads one value at a
 * JSON path and records a problem (with that path) instead of failing.
 */
#ifndef GW_CONFIG_PRIVATE_H
#define GW_CONFIG_PRIVATE_H

#include <jansson.h>

#include "gw_config.h"

/* Records "<path><key>: unknown setting" for every key of obj not in known (NULL-ended). */
void cfg_keys(json_t *obj, const char *path, const char *const *known, struct gw_problems *pr);
/* A non-empty string, strdup'ed; NULL (and a problem unless nullable) when absent. */
char *cfg_str(json_t *obj, const char *key, const char *path, int nullable, struct gw_problems *pr);
/* An integer within lo..hi; lo (and a problem) otherwise. */
int cfg_int(json_t *obj, const char *key, const char *path, long lo, long hi,
            struct gw_problems *pr);
/* root[key] when it is an object; NULL (and a problem) otherwise. */
json_t *cfg_obj(json_t *root, const char *key, struct gw_problems *pr);

/* config_service.c: escalation tiers, business hours, queues' webhooks. */
void cfg_load_escalation(struct gw_config *cfg, json_t *esc, struct gw_problems *pr);
void cfg_load_service(struct gw_config *cfg, json_t *root, struct gw_problems *pr);

#endif
