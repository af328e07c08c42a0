/*
 * Registration on a given database connection, for the worker threads and for
 * one-shot commands. One call registers a batch in ONE transaction, sent in
 * libpq pipeline mode (one round trip, one commit); if one contact fails, the
 * rest are retried one transaction each so a bad contact never costs others.
 */
#ifndef GW_REGISTER_H
#define GW_REGISTER_H

#include <libpq-fe.h>
#include <stddef.h>

#include "gw_error.h"
#include "gw_intake.h"

struct gw_config;

/* Prepares the registration statements and every adapter's operations on a fresh connection. */
GW_MUST_USE enum gw_err gw_register_prepare(PGconn *conn);

/*
 * Registers jobs[0..n) (GW_JOB_PING jobs just prove the connection works).
 * Every job's result is written. Returns GW_ERR_DB_UNAVAILABLE when the
 * connection broke (the caller reconnects), GW_OK otherwise.
 */
GW_MUST_USE enum gw_err gw_register_batch(PGconn *conn, const struct gw_config *cfg,
                                          struct gw_intake_job **jobs, size_t n);

/*
 * The same, the jobs registered in the order given (gw_register_batch takes
 * its locks in name order, which may reorder the jobs of different keys):
 * for a single caller replaying what came in order (the spool). The batch
 * may wait for a worker's in a circle; PostgreSQL breaks that and the batch
 * runs again.
 */
GW_MUST_USE enum gw_err gw_register_in_order(PGconn *conn, const struct gw_config *cfg,
                                             struct gw_intake_job **jobs, size_t n);

/* The JSON document intake_register() takes; malloc'd, the caller frees it. */
char *gw_register_document(const struct gw_config *cfg, const struct gw_contact *contact);

/*
 * Logs what came of a job that gw_register_batch ran (contact.registered,
 * contact.duplicate, contact.refused, operation.done, operation.failed):
 * ticket and customer numbers, channel, category, never who wrote or what.
 */
void gw_register_log_outcome(const struct gw_intake_job *job);

#endif
