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

#include "gw_arena.h"
#include "gw_contact.h"
#include "gw_error.h"

struct gw_config;
struct gw_operation;

struct gw_intake_result {
    enum gw_err err;
    bool duplicate;    /* the idempotency key was already registered */
    bool new_ticket;   /* a ticket was opened for this contact */
    bool new_customer; /* a customer record was created */
    bool reopened;     /* a resolved ticket was reopened by this contact */
    char ticket[32];   /* e.g. SR-000123 */
    char customer[32]; /* e.g. C-000045 */
    char category[48];
    char priority[16];
    char queue[32];
    char language[8];
    char detail[128]; /* why err is set; safe to show to the sender */
    /*
     * A live session whose events this job committed, and the highest event
     * number: announced to every gateway after the commit (gw_announcer.h).
     * 0: nothing to announce.
     */
    long long announce_session, announce_seq;
    /*
     * The database's whole answer (JSON, in the job's arena) for operations,
     * for contacts in a live session and for contacts an adapter's operation
     * registered (what the adapter's function says besides the fields
     * above); NULL otherwise.
     */
    const char *document;
};

enum gw_job_kind { GW_JOB_REGISTER, GW_JOB_PING, GW_JOB_OPERATION };

struct gw_intake_job {
    enum gw_job_kind kind;
    /*
     * GW_JOB_OPERATION: which (an adapter's row, gw_channel.h), run by the
     * same workers and in the same group commits as contacts; document is
     * its input and result.document its answer.
     */
    const struct gw_operation *operation;
    struct gw_contact contact; /* filled by the caller, arena-owned strings */
    struct gw_arena *arena;    /* the caller's; the intake never frees it */
    /* registration JSON (set by submit), or an operation's input (set by the caller) */
    const char *document;
    /*
     * When set, the contact is not parsed yet: a worker calls parse first
     * (for inputs whose parse is too heavy for the event loop). A failure
     * leaves result.err = GW_ERR_INVALID and nothing registered.
     */
    enum gw_err (*parse)(void *parse_arg, struct gw_arena *arena, struct gw_contact *contact);
    void *parse_arg;
    void *owner;                    /* the caller's handle; untouched by the intake */
    double submitted_at;            /* when the caller handed it over (monotonic s), for /metrics */
    int purpose;                    /* the submitter's own tag (why it asked); untouched */
    struct gw_intake_result result; /* written by a worker */
    struct gw_intake_job *next;     /* queue link, owned by the intake */
};

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

/*
 * Registers one job on a connection of its own, on the calling thread, for
 * one-shot commands (an MTA pipe). GW_OK: job->result says what happened;
 * GW_ERR_DB_UNAVAILABLE: nothing was stored, try again later.
 */
GW_MUST_USE enum gw_err gw_intake_register_now(const struct gw_config *cfg,
                                               struct gw_intake_job *job);

/* Wakes whoever waits for new outbox rows (the dispatcher), after a commit. */
void gw_intake_set_commit_hook(struct gw_intake *intake, void (*hook)(void *), void *user);

struct gw_announcer;
/*
 * Where the workers post committed session events (result.announce_*); set
 * before the first job is submitted. Unset: nothing is announced.
 */
void gw_intake_set_announcer(struct gw_intake *intake, struct gw_announcer *announcer);

#endif
