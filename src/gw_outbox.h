/*
 * The outbox dispatcher: one thread with its own database connection and its
 * own curl handle. It claims due rows with FOR UPDATE SKIP LOCKED (so several
 * gateway processes share the work), asks the row's channel to render the
 * acknowledgement, delivers it with the core's senders, and records the
 * outcome: sent, skipped (nothing to send on that channel), or a retry with
 * exponential backoff until outbox.max_attempts, then failed.
 */
#ifndef GW_OUTBOX_H
#define GW_OUTBOX_H

#include <libpq-fe.h>

#include "gw_error.h"

struct gw_config;
struct gw_outbox;

/* The channel agent notifications are published on (LISTEN/NOTIFY). */
#define GW_AGENT_EVENTS_CHANNEL "intake_agent_events"

GW_MUST_USE enum gw_err gw_outbox_start(const struct gw_config *cfg, struct gw_outbox **out);
/* Wakes the dispatcher early (new rows were committed); safe from any thread. */
void gw_outbox_kick(void *outbox);
/* Finishes the current pass and joins the thread. */
void gw_outbox_stop(struct gw_outbox *outbox);

/* Readies a fresh connection for gw_outbox_run_once: settings and prepared statements. */
GW_MUST_USE enum gw_err gw_outbox_prepare(PGconn *conn);

/*
 * What a pass decided for the rows it claimed but could not write back, its
 * connection having broken after the claim: kept by the caller for the next
 * connection (both malloc'd, NULL when nothing waits).
 */
struct gw_outbox_unwritten {
    char *outcomes; /* the record statement's document */
    char *claimed;  /* the ids claimed, as a PostgreSQL array */
};

/*
 * One pass on conn (curl: a CURL easy handle): writes back what an earlier
 * pass could not (unwritten), publishes due agent notifications, claims up to
 * limit due rows and delivers them. *handled is limit when either found a
 * full batch (more may be waiting), else the rows claimed. When the
 * connection breaks after a claim, *unwritten keeps the pass's outcomes.
 */
GW_MUST_USE enum gw_err gw_outbox_run_once(PGconn *conn, void *curl, const struct gw_config *cfg,
                                           int limit, int *handled,
                                           struct gw_outbox_unwritten *unwritten);

#endif
