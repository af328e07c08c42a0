/*
 * What a channel's poll hook may do (gw_channel.poll), on the poller's
 * thread, with the poller's database connection and curl handle: register
 * what it fetched through gw_poll_register() before acknowledging it to its
 * source, run its own database operations through gw_poll_run(), and take
 * gw_poll_try_lock() so that one gateway of several polls each source.
 */
#ifndef GW_POLL_H
#define GW_POLL_H

#include <jansson.h>
#include <stdbool.h>

#include "gw_error.h"
#include "gw_job.h"

struct gw_config;
struct gw_operation;
struct gw_poll_ctx;

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
