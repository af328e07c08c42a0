/*
 * The document a desk operation starts from: the action, what the database
 * needs from the configuration (it reads no configuration of its own), and
 * who is asking.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_token.h"

json_t *desk_document(const struct gw_config *cfg, const char *action)
{
    const struct desk_settings *s = desk_settings(cfg);
    json_t *doc = json_pack("{s:s, s:[iii], s:[iii], s:i, s:i, s:s?}", "action", action,
                            "resolve_s", cfg->resolve_s[0], cfg->resolve_s[1], cfg->resolve_s[2],
                            "respond_s", cfg->respond_s[0], cfg->respond_s[1], cfg->respond_s[2],
                            "survey_delay_s", s->survey_delay_s, "survey_expires_s",
                            s->survey_expires_s, "followup_queue", s->followup_queue);
    if (doc && cfg->business_hours)
        json_object_set_new(doc, "calendar", json_loads(cfg->business_hours, 0, NULL));
    return doc;
}

bool desk_add_caller(json_t *doc, const char *token, const struct gw_config *cfg)
{
    if (!token || !*token)
        return false;
    size_t n = strlen(token);
    /* Constant time over the configured token, so timing says nothing about it. */
    if (cfg->api_token && n == strlen(cfg->api_token) &&
        CRYPTO_memcmp(token, cfg->api_token, n) == 0) {
        json_object_set_new(doc, "api", json_true());
        return true;
    }
    char hash[65];
    gw_token_hash(token, hash);
    json_object_set_new(doc, "token_hash", json_string(hash));
    return true;
}

bool desk_submit_document(struct gw_intake_job *job, struct gw_arena *arena, enum desk_operation op,
                          json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    job->kind = GW_JOB_OPERATION;
    job->operation = &desk_operations[op];
    job->document = text ? gw_arena_strdup(arena, text) : NULL;
    free(text);
    return job->document != NULL;
}
