/*
 * Registration on a given database connection, for the worker threads and for
 * one-shot commands. One call registers a batch in ONE transaction, sent in
 * libpq pipeline mode (one round trip, one commit); if one contact fails, the
 * rest are retried one transaction each so a bad contact never costs others.
 */
#ifndef GW_REGISTER_H
#define GW_REGISTER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_error.h"
#include "gw_intake.h"

struct gw_config;

/* Prepares the registration statement on a fresh connection. */
GW_MUST_USE enum gw_err gw_register_prepare(PGconn *conn);

/*
 * Registers jobs[0..n) (GW_JOB_PING jobs just prove the connection works).
 * Every job's result is written. Returns GW_ERR_DB_UNAVAILABLE when the
 * connection broke (the caller reconnects), GW_OK otherwise.
 */
GW_MUST_USE enum gw_err gw_register_batch(PGconn *conn, const struct gw_config *cfg,
                                          struct gw_intake_job **jobs, size_t n);

/*
 * The same in steps, so that a worker can queue its next batch while the
 * server commits this one (the server then never waits for us between
 * batches):
 *
 *     b = gw_register_send(conn, cfg, jobs, n, NULL);
 *     if (gw_register_executed(b))           // statements done, commit under way
 *         next = gw_register_send(conn, cfg, more, m, b);
 *     gw_register_finish(b);                 // committed: results written
 *
 * A batch is sent behind at most one other (ahead), and only after
 * gw_register_executed(ahead) returned true: a failed batch is retried on the
 * connection, which needs it to itself. Batches are finished in the order
 * they were sent. jobs must outlive the batch (until finish or abandon).
 */
struct gw_register_batch;

/*
 * Orders the jobs by lock, builds their documents and sends them with one
 * Sync. NULL when n is 0 or memory ran out (the results then say so);
 * otherwise the batch must go to gw_register_finish or gw_register_abandon.
 */
struct gw_register_batch *gw_register_send(PGconn *conn, const struct gw_config *cfg,
                                           struct gw_intake_job **jobs, size_t n,
                                           struct gw_register_batch *ahead);

/*
 * Waits until the server has executed the batch's statements (not yet
 * committed them). True when all of them succeeded: the batch commits unless
 * the commit itself fails, and another batch may be sent behind it.
 */
GW_MUST_USE bool gw_register_executed(struct gw_register_batch *batch);

/*
 * Waits for the commit and writes every job's result; a batch that failed is
 * retried here (whole, then contact by contact). Frees the batch. Returns
 * GW_ERR_DB_UNAVAILABLE when the connection broke or the commit failed (the
 * caller abandons the batch queued behind and reconnects), GW_OK otherwise.
 */
GW_MUST_USE enum gw_err gw_register_finish(struct gw_register_batch *batch);

/* Gives up a batch whose connection is lost: every job is told to retry. Frees it. */
void gw_register_abandon(struct gw_register_batch *batch);

/* The JSON document intake_register() takes; malloc'd, the caller frees it. */
char *gw_register_document(const struct gw_config *cfg, const struct gw_contact *contact);

#endif
