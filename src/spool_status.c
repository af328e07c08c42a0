/*
 * What the spool shows outside: its lines in /metrics, and /readyz's answer.
 * A gateway whose database cannot be reached but whose spool takes webhooks
 * stays ready (200, "degraded"): when the database is away it is away for
 * every gateway, and a load balancer that took them all out of rotation
 * would answer the phone systems' webhooks itself, with an error they never
 * retry, which is what the spool is there to prevent. Other senders get 503
 * from it as from any gateway and retry. A gateway without a spool, or
 * whose spool is full, answers 503 as before.
 */
#include <inttypes.h>
#include <stdio.h>

#include "gw_channel.h"
#include "gw_reply.h"
#include "gw_spool.h"

char *gw_spool_metrics(struct gw_spool *s, struct gw_arena *arena)
{
    if (!s)
        return "";
    struct gw_spool_stats st;
    gw_spool_stats(s, &st);
    return gw_arena_printf(
        arena,
        "# HELP intake_spool_events Contacts waiting in the gateway's spool for the database.\n"
        "# TYPE intake_spool_events gauge\n"
        "intake_spool_events %zu\n"
        "# HELP intake_spool_bytes Size of the spooled contacts' files.\n"
        "# TYPE intake_spool_bytes gauge\n"
        "intake_spool_bytes %" PRIu64 "\n"
        "# HELP intake_spool_oldest_age_seconds How long the oldest spooled contact has waited.\n"
        "# TYPE intake_spool_oldest_age_seconds gauge\n"
        "intake_spool_oldest_age_seconds %.0f\n"
        "# HELP intake_spool_spooled_total Contacts kept in the spool and answered 2xx.\n"
        "# TYPE intake_spool_spooled_total counter\n"
        "intake_spool_spooled_total %" PRIu64 "\n"
        "# HELP intake_spool_replayed_total Spooled contacts registered in the database.\n"
        "# TYPE intake_spool_replayed_total counter\n"
        "intake_spool_replayed_total %" PRIu64 "\n"
        "# HELP intake_spool_refused_total Contacts answered 503 because the spool was over a "
        "bound.\n"
        "# TYPE intake_spool_refused_total counter\n"
        "intake_spool_refused_total %" PRIu64 "\n"
        "# HELP intake_spool_discarded_total Torn spool files removed and contacts the database "
        "refused (kept as *.refused).\n"
        "# TYPE intake_spool_discarded_total counter\n"
        "intake_spool_discarded_total %" PRIu64 "\n",
        st.events, st.bytes, st.oldest_age_s, st.spooled, st.replayed, st.refused, st.discarded);
}

void gw_spool_readiness(struct gw_spool *spool, bool database_ok, json_t *degraded,
                        struct gw_arena *arena, struct gw_http_reply *reply)
{
    struct gw_spool_stats st;
    gw_spool_stats(spool, &st);
    if (!database_ok && (!spool || st.full)) {
        json_decref(degraded);
        gw_reply_error(
            reply, arena, 503,
            spool ? "database unavailable and the spool is full" : "database unavailable", NULL);
        reply->retry_after_s = 1;
        return;
    }
    json_t *doc;
    if (database_ok && !st.events) {
        doc = json_pack("{s:s}", "status", degraded ? "degraded" : "ready");
    } else {
        char reason[64];
        snprintf(reason, sizeof(reason), "spooling (%zu event%s)", st.events,
                 st.events == 1 ? "" : "s");
        doc = json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:f}}", "status", "degraded", "reason",
                        reason, "database", database_ok ? "ok" : "unavailable", "spool", "events",
                        (json_int_t)st.events, "bytes", (json_int_t)st.bytes, "oldest_age_seconds",
                        st.oldest_age_s);
    }
    if (doc && degraded)
        json_object_set_new(doc, "degraded", degraded);
    else
        json_decref(degraded);
    gw_reply_json(reply, arena, 200, doc);
}
