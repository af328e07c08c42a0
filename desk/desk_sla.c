/*
 * The SLA scanner on the poller thread: every escalation.scan_seconds, one
 * intake_sla_scan() (which takes an advisory lock, so across several
 * gateways one scans and the others skip).
 */
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_log.h"
#include "gw_poller.h"

int desk_poll_sla(struct gw_poll_ctx *ctx)
{
    const struct gw_config *cfg = gw_poll_config(ctx);
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_intake_job job = {.arena = arena};
    bool ready =
        arena && desk_submit_document(&job, arena, GW_OP_SLA_SCAN, desk_document(cfg, "sla_scan"));
    if (ready && gw_poll_register(ctx, &job) == GW_OK && job.result.err == GW_OK) {
        json_t *answer = json_loads(job.result.document, 0, NULL);
        size_t n = json_array_size(json_object_get(answer, "breaches"));
        if (n)
            gw_info("sla: %zu breached clock%s escalated", n, n == 1 ? "" : "s");
        json_decref(answer);
    }
    gw_arena_destroy(arena);
    return cfg->sla_scan_s;
}
