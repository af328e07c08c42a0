/*
 * The intake core seen from the event loop: submit a contact, get a result
 * back later. Database work happens on worker threads, each with its own
 * connection, which commit every job waiting at the moment together (group
 * commit). Finished jobs wait in a completion queue until the loop thread
 * calls gw_intake_collect(); the wake hook (lws_cancel_service in the server)
 * tells it when.
 */
#ifndef GW_INTAKE_H
#define GW_INTAKE_H

#include <stdbool.h>

#include "gw_error.h"
#include "gw_job.h"

struct gw_config;

struct gw_intake;

typedef void (*gw_intake_wake_fn)(void *user);
typedef void (*gw_intake_done_fn)(struct gw_intake_job *job, void *user);

/* Starts cfg->db_workers threads. Workers connect lazily and reconnect on failure. */
GW_MUST_USE enum gw_err gw_intake_create(const struct gw_config *cfg, gw_intake_wake_fn wake,
                                         void *wake_user, struct gw_intake **out);
/* Finishes the jobs already queued, then joins the workers; finished jobs stay collectable. */
void gw_intake_stop(struct gw_intake *intake);
/* Stops (if not yet stopped) and frees; uncollected jobs are dropped, not freed. */
void gw_intake_destroy(struct gw_intake *intake);

/*
 * Hands the job to the workers; on GW_OK it comes back through
 * gw_intake_collect. The registration document is built here, on the
 * caller's thread, so the workers spend their time on the database.
 */
GW_MUST_USE enum gw_err gw_intake_submit(struct gw_intake *intake, struct gw_intake_job *job);
/* Calls done for every finished job, on the calling thread; returns how many. */
size_t gw_intake_collect(struct gw_intake *intake, gw_intake_done_fn done, void *user);
/* Jobs submitted and not yet collected. */
size_t gw_intake_in_flight(struct gw_intake *intake);

/* Wakes whoever waits for new outbox rows (the dispatcher), after a commit. */
void gw_intake_set_commit_hook(struct gw_intake *intake, void (*hook)(void *), void *user);

struct gw_spool;
/*
 * The spool jobs marked may_spool go to when the database cannot be reached
 * (src/gw_spool.h); set before the first job is submitted. Unset: none.
 */
void gw_intake_set_spool(struct gw_intake *intake, struct gw_spool *spool);

struct gw_announcer;
/*
 * Where the workers post committed session events (result.announce_*); set
 * before the first job is submitted. Unset: nothing is announced.
 */
void gw_intake_set_announcer(struct gw_intake *intake, struct gw_announcer *announcer);

#endif
