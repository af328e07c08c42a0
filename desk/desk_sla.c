/*
 * The desk's turn on the poller thread, every escalation.scan_seconds: the
 * SLA scanner's passes (intake_sla_scan() takes an advisory lock, so across
 * several gateways one scans and the others skip; a pass deals with a
 * bounded number of due tickets in a short transaction and says when it
 * left some, so a backlog takes passes back to back, and the rest of it
 * the next turn, a second later, when a turn's passes did not reach its
 * end), then the sweep of agent streams
 * whose gateway stopped renewing them (db/functions/agents.sql; every gateway may sweep,
 * each agent's rows are changed under the agent's lock), and the refresh of
 * one cached report that people read (at most one a turn: it can take
 * seconds, which the poller's other work waits for), and the report by mail
 * when one is due (report_mail.c).
 */
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_log.h"
#include "gw_poll.h"

/* Passes a turn at most: the poller's other work (the streams' sweep,
 * retention, reports) waits for them. 200 passes of 10 tickets: 2,000
 * escalations a turn. */
#define SLA_PASSES_A_TURN 200

/* Runs one desk operation on the poller's connection; its answer (a JSON object) or NULL. */
static json_t *run(struct gw_poll_ctx *ctx, enum desk_operation op, json_t *doc)
{
    json_t *answer = NULL;
    if (gw_poll_run(ctx, &desk_operations[op], doc, &answer) != GW_OK)
        return NULL;
    return answer;
}

int desk_poll(struct gw_poll_ctx *ctx)
{
    const struct gw_config *cfg = gw_poll_config(ctx);
    size_t n = 0;
    bool more = true;
    for (int pass = 0; more && pass < SLA_PASSES_A_TURN; pass++) {
        json_t *answer = run(ctx, DESK_OP_SLA_SCAN, desk_document(cfg, "sla_scan"));
        n += json_array_size(json_object_get(answer, "breaches"));
        more = json_is_true(json_object_get(answer, "more"));
        json_decref(answer);
    }
    if (n)
        gw_log_event(GW_LOG_INFO, "sla.escalated", GW_FIELDS(GW_INT("clocks", n)),
                     "sla: %zu breached clock%s escalated", n, n == 1 ? "" : "s");

    json_t *sweep = desk_document(cfg, "streams_sweep");
    json_object_set_new(sweep, "api", json_true());
    json_t *answer = run(ctx, DESK_OP_DESK, sweep);
    json_int_t gone =
        json_integer_value(json_object_get(json_object_get(answer, "body"), "offline"));
    if (gone)
        gw_log_event(GW_LOG_INFO, "desk.agents_offline", GW_FIELDS(GW_INT("agents", gone)),
                     "desk: %lld agent%s offline: their gateway stopped renewing their stream",
                     (long long)gone, gone == 1 ? "" : "s");
    json_decref(answer);
    desk_retention_turn(ctx);

    /* One report people read, checked and made again if its data changed (report_serve.sql). */
    json_t *refresh = json_pack("{s:i}", "cache_s", desk_settings(cfg)->reports.cache_s);
    answer = refresh ? run(ctx, DESK_OP_REPORT_REFRESH, refresh) : NULL;
    if (json_is_string(json_object_get(answer, "refreshed")))
        gw_info("reports: a cached report was made again (its tickets changed)");
    json_decref(answer);

    report_mail_poll(ctx, &desk_settings(cfg)->reports);
    return more ? 1 : desk_settings(cfg)->scan_s;
}
