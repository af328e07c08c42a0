/*
 * A job for the intake: a contact to register or a database operation to
 * run, and what came of it. Adapters fill jobs (a route's answer hook, a
 * socket, a poll hook) and the core runs them, batched with others, on its
 * database connections (the workers, src/gw_intake.h); a one-shot command
 * runs one on a connection of its own with gw_intake_register_now.
 */
#ifndef GW_JOB_H
#define GW_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_arena.h"
#include "gw_contact.h"
#include "gw_error.h"
#include "gw_log.h"

struct gw_config;
struct gw_operation;

struct gw_intake_result {
    enum gw_err err;
    bool duplicate;    /* the idempotency key was already registered */
    bool new_ticket;   /* a ticket was opened for this contact */
    bool new_customer; /* a customer record was created */
    bool reopened;     /* a resolved ticket was reopened by this contact */
    /*
     * err is GW_ERR_DB_UNAVAILABLE because no connection to the database
     * could be made or kept (not a refusal by a database that answered, nor
     * a ticket number already taken): what the spool is for.
     */
    bool unreachable;
    /*
     * err is GW_OK because the contact was kept in the gateway's spool
     * (src/gw_spool.h) instead: it is registered when the database answers
     * again, and nothing else of the result is set (no ticket yet).
     */
    bool spooled;
    /*
     * err is GW_OK but nothing was stored: an outbound historical contact
     * with no thread to join and nobody to open a ticket for (detail says
     * so, for a person).
     */
    bool left_out;
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
    /* An operation's finish hook's reply body as it is (arena), with its
     * content type; NULL otherwise (gw_channel.h). */
    const char *body;
    size_t body_len;
    const char *content_type;
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
    void *owner;         /* the caller's handle; untouched by the intake */
    double submitted_at; /* when the caller handed it over (monotonic s), for /metrics */
    int purpose;         /* the submitter's own tag (why it asked); untouched */
    /*
     * Set by the core for a verified contact of a route that spools
     * (gw_route.spool): while the database cannot be reached, or while the
     * spool still holds older contacts, the worker keeps it in the spool
     * and answers result.spooled.
     */
    bool may_spool;
    /*
     * The request the job came with (gw_log.h), copied by its submitter:
     * the worker names it on the lines it writes about the job. Empty: the
     * thread's own (a poll, a pipe run).
     */
    char request_id[GW_REQUEST_ID_SIZE];
    struct gw_intake_result result; /* written by a worker */
    struct gw_intake_job *next;     /* queue link, owned by the intake */
};

/*
 * Registers one job on a connection of its own, on the calling thread, for
 * one-shot commands (an MTA pipe). GW_OK: job->result says what happened;
 * GW_ERR_DB_UNAVAILABLE: nothing was stored, try again later.
 */
/*
 * Names the job's request on the calling thread's lines from now on (the
 * thread's own stays when the job has none); returns what to put back with
 * gw_log_set_request.
 */
static inline const char *gw_job_log_request(const struct gw_intake_job *job)
{
    return gw_log_set_request(job->request_id[0] ? job->request_id : gw_log_request());
}

GW_MUST_USE enum gw_err gw_intake_register_now(const struct gw_config *cfg,
                                               struct gw_intake_job *job);

/*
 * A connection of its own for a command that registers many contacts (an
 * archive import): each call registers a batch of jobs in one transaction,
 * as the workers do (a contact the database refuses fails alone, the rest
 * commit). For one thread at a time; the jobs' arenas stay the caller's.
 */
struct gw_intake_session;

/* GW_ERR_DB_UNAVAILABLE: the database cannot be reached (or its schema is not ready). */
GW_MUST_USE enum gw_err gw_intake_session_open(const struct gw_config *cfg,
                                               struct gw_intake_session **out);
/*
 * Builds a contact job's registration document (classification, deadlines)
 * into its arena now, so that another thread than the registering one pays
 * for it.
 */
GW_MUST_USE enum gw_err gw_intake_job_prepare(const struct gw_config *cfg,
                                              struct gw_intake_job *job);
/*
 * Registers jobs[0..n); every job's result is written. GW_ERR_DB_UNAVAILABLE:
 * the connection broke, and the jobs whose result says so were not stored
 * (the session reconnects on the next call).
 */
GW_MUST_USE enum gw_err gw_intake_session_register(struct gw_intake_session *session,
                                                   struct gw_intake_job **jobs, size_t n);
void gw_intake_session_close(struct gw_intake_session *session);

#endif
