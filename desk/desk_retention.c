/*
 * Retention on the poller: when retention.personal_data_days or
 * raw_mail_days is set, each desk turn runs one batch of
 * intake_retention_run() (db/functions/retention.sql says what it erases
 * and drops), in a transaction of its own. Batches are small so that a
 * backlog (retention switched on for years of data) is worked off over
 * many turns without long locks; the database's advisory lock lets one
 * gateway of several run at a time, and the others skip their turn. The
 * log line carries counts only.
 */
#include "desk.h"
#include "gw_config.h"
#include "gw_log.h"
#include "gw_poll.h"

/* Tickets a batch takes (and ten times as many raw sources and attachments). */
#define RETENTION_BATCH 50

void desk_retention_turn(struct gw_poll_ctx *ctx)
{
    const struct desk_settings *s = desk_settings(gw_poll_config(ctx));
    if (!s->personal_data_days && !s->raw_mail_days)
        return;
    json_t *doc = json_pack("{s:i, s:i, s:i}", "personal_data_days", s->personal_data_days,
                            "raw_mail_days", s->raw_mail_days, "batch", RETENTION_BATCH);
    json_t *answer = NULL;
    if (!doc || gw_poll_run(ctx, &desk_operations[DESK_OP_RETENTION], doc, &answer) != GW_OK)
        return;
    json_int_t customers = json_integer_value(json_object_get(answer, "customers"));
    json_int_t tickets = json_integer_value(json_object_get(answer, "tickets"));
    json_int_t sources = json_integer_value(json_object_get(answer, "raw_sources"));
    json_int_t files = json_integer_value(json_object_get(answer, "attachments"));
    json_int_t sessions = json_integer_value(json_object_get(answer, "chat_sessions"));
    if (customers || tickets || sources || files || sessions)
        gw_info("retention: personal data of %lld tickets erased (%lld customers whole), "
                "%lld chat sessions without a ticket erased, %lld raw messages and %lld "
                "attachments dropped",
                (long long)tickets, (long long)customers, (long long)sessions, (long long)sources,
                (long long)files);
    json_decref(answer);
}
