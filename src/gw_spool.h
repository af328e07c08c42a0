/*
 * The gateway's local spool: contacts from senders that never retry (phone
 * webhooks), verified and normalized, kept on local disk while the database
 * cannot be reached and registered by the replayer once it answers again.
 * One directory per gateway (spool.dir), held with a lock file so that a
 * second gateway cannot share it; one file per contact, written and fsync'd
 * (with its directory) before the sender hears 200. The spool is bounded in
 * bytes and in the age of its oldest contact; over either a sender gets 503
 * as without a spool. Every function is thread-safe: the registration
 * workers append, the replayer takes and removes, the event loop reads the
 * figures.
 */
#ifndef GW_SPOOL_H
#define GW_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gw_arena.h"
#include "gw_error.h"
#include "gw_job.h"

struct gw_config;
struct gw_route;
struct gw_spool;

struct gw_spool_stats {
    size_t events;       /* contacts waiting, written in full */
    uint64_t bytes;      /* their files' size */
    double oldest_age_s; /* since the oldest was spooled; 0 when none */
    bool full;           /* over spool.max_bytes or spool.max_age_seconds: new ones get 503 */
    uint64_t spooled;    /* contacts kept since start */
    uint64_t replayed;   /* contacts the replayer registered (or found registered) */
    uint64_t refused;    /* contacts answered 503 because the spool was over a bound */
    uint64_t discarded;  /* torn files removed, contacts set aside as refused */
};

/*
 * Opens cfg's spool.dir (made 0700 when missing), takes its lock and reads
 * what an earlier run left (torn files are removed with a log line).
 * spool.dir unset: GW_OK with *out NULL (no spool). GW_ERR_BUSY: another
 * process holds the directory; GW_ERR_IO: it cannot be used. Both say why
 * on stderr.
 */
GW_MUST_USE enum gw_err gw_spool_open(const struct gw_config *cfg, struct gw_spool **out);
void gw_spool_close(struct gw_spool *spool);

/* Whether the route's contacts spool under this configuration (spool may be NULL). */
bool gw_spool_takes(const struct gw_spool *spool, const struct gw_route *route);
/* Contacts waiting (or being written): a new one must queue behind them. */
bool gw_spool_busy(struct gw_spool *spool);

/*
 * Keeps the job's contact: its registration document (built here when the
 * job has none) and raw source, durably on disk when this returns GW_OK.
 * GW_ERR_BUSY: over spool.max_bytes or spool.max_age_seconds; GW_ERR_IO:
 * the write failed (logged). On the caller's thread (a worker): it waits
 * for the disk.
 */
GW_MUST_USE enum gw_err gw_spool_append(struct gw_spool *spool, const struct gw_config *cfg,
                                        struct gw_intake_job *job);

void gw_spool_stats(struct gw_spool *spool, struct gw_spool_stats *out);
/* spool_status.c: the spool's lines for /metrics (arena-owned); "" without a spool. */
char *gw_spool_metrics(struct gw_spool *spool, struct gw_arena *arena);
struct gw_http_reply;
/*
 * /readyz's answer from the ping's outcome (database_ok) and the spool's
 * state: 200 "ready"; 200 "degraded" while the spool holds contacts or
 * takes them for a database that cannot be reached (a load balancer must
 * keep sending webhooks to a gateway that keeps them); else 503. degraded
 * (taken; may be NULL): other reasons a ready gateway is degraded, listed
 * in the answer's "degraded".
 */
void gw_spool_readiness(struct gw_spool *spool, bool database_ok, json_t *degraded,
                        struct gw_arena *arena, struct gw_http_reply *reply);

/* For the replayer (spool_replay.c). */
struct gw_spooled {
    uint64_t seq;              /* its place in arrival order */
    struct gw_intake_job *job; /* rebuilt in the arena: a registration ready to run */
};
/*
 * Reads up to max of the oldest contacts, in arrival order, into out[] (jobs
 * and their strings in arena); returns how many. A torn file is removed and
 * one that cannot make a job set aside, each with a log line, and skipped;
 * a file that cannot be read ends the take there (logged once), to be
 * tried again.
 */
size_t gw_spool_take(struct gw_spool *spool, struct gw_arena *arena, struct gw_spooled *out,
                     size_t max);
/* The contact is registered (or was already): its file goes. */
void gw_spool_done(struct gw_spool *spool, uint64_t seq);
/* The database refused it (not for being away): its file is renamed *.refused and kept aside. */
void gw_spool_set_aside(struct gw_spool *spool, uint64_t seq, const char *why);
/* Called (on the appending thread) after each contact spooled: the replayer's kick. */
void gw_spool_on_append(struct gw_spool *spool, void (*wake)(void *), void *user);

/*
 * The replayer: a thread with a connection of its own that registers the
 * spooled contacts, oldest first, whenever the spool holds some and the
 * database answers. committed (may be NULL) is called after a commit (the
 * outbox's kick).
 */
struct gw_spool_replayer;
GW_MUST_USE enum gw_err gw_spool_replayer_start(const struct gw_config *cfg, struct gw_spool *spool,
                                                void (*committed)(void *), void *user,
                                                struct gw_spool_replayer **out);
void gw_spool_replayer_stop(struct gw_spool_replayer *r);

#endif
