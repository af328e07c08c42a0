/*
 * The desk's turn on the poller thread, every escalation.scan_seconds: one
 * intake_sla_scan() (which takes an advisory lock, so across several
 * gateways one scans and the others skip), then the sweep of agent streams
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
    json_t *answer = run(ctx, DESK_OP_SLA_SCAN, desk_document(cfg, "sla_scan"));
    size_t n = json_array_size(json_object_get(answer, "breaches"));
    if (n)
        gw_log_event(GW_LOG_INFO, "sla.escalated", GW_FIELDS(GW_INT("clocks", n)),
                     "sla: %zu breached clock%s escalated", n, n == 1 ? "" : "s");
    json_decref(answer);

    json_t *sweep = desk_document(cfg, "streams_sweep");
    json_object_set_new(sweep, "api", json_true());
    answer = run(ctx, DESK_OP_DESK, sweep);
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
    return desk_settings(cfg)->scan_s;
}
