/*
 * The poller: one thread that runs the channels' poll hooks (mailboxes to
 * drain, periodic sweeps) every few seconds, with a database connection and
 * a curl handle of its own. A hook registers what it fetched through
 * gw_poll_register() before acknowledging it to its source, runs its own
 * database operations through gw_poll_run(), and takes gw_poll_try_lock() so
 * that one gateway of several polls each source.
 */
#ifndef GW_POLLER_H
#define GW_POLLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_error.h"
#include "gw_intake.h"

struct gw_config;
struct gw_operation;
struct gw_poll_ctx;
struct gw_poller;

/* Starts the thread when some channel has a poll hook; *out may stay NULL. */
GW_MUST_USE enum gw_err gw_poller_start(const struct gw_config *cfg, struct gw_poller **out);
void gw_poller_stop(struct gw_poller *poller);

const struct gw_config *gw_poll_config(struct gw_poll_ctx *ctx);
/* A CURL easy handle owned by the poller (reset it before use). */
void *gw_poll_curl(struct gw_poll_ctx *ctx);
/* True once the gateway is shutting down: finish the current item and return. */
bool gw_poll_stopping(struct gw_poll_ctx *ctx);
/*
 * Registers a job now, on the poller's connection. GW_OK: job->result says
 * what happened (new, duplicate, refused); GW_ERR_DB_UNAVAILABLE: nothing was
 * stored, leave the item at its source for the next poll.
 */
GW_MUST_USE enum gw_err gw_poll_register(struct gw_poll_ctx *ctx, struct gw_intake_job *job);
/*
 * Runs the operation op (a row of the adapter's table, gw_channel.h) with doc
 * (stolen) as its input on the poller's connection, in a transaction of its
 * own. GW_OK: *answer is the function's answer, the caller's to json_decref;
 * GW_ERR_DB_UNAVAILABLE: the database is away; another error: the function
 * failed or its answer was not JSON.
 */
GW_MUST_USE enum gw_err gw_poll_run(struct gw_poll_ctx *ctx, const struct gw_operation *op,
                                    json_t *doc, json_t **answer);
/* A cluster-wide lock on name (PostgreSQL advisory lock), or false if another holds it. */
bool gw_poll_try_lock(struct gw_poll_ctx *ctx, const char *name);
void gw_poll_unlock(struct gw_poll_ctx *ctx, const char *name);

#endif
