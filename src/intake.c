/*
 * The registration worker pool. Jobs arrive from the event loop through one
 * locked queue; each worker takes everything waiting (up to batch_max) and
 * registers it as one batch, so the batch size grows by itself with load:
 * while a worker waits for a commit, new contacts pile up for the next one.
 * No timer delays a lone contact. Finished jobs go to a completion queue and
 * the loop is woken through the wake hook, the only cross-thread call into it.
 * Operations marked own_lane (gw_channel.h: a customer's export or erase,
 * a period's report) wait in a short queue of their own, served by one more
 * worker with its own connection: a query of seconds there delays only the
 * next such operation, never a registration (batched with registrations, it
 * would hold every contact of the batch, and those behind it).
 * Operations marked read_lane (an agent's ticket view, lists, search) go to
 * one more worker, whose connection commits without waiting for the WAL
 * flush: they never wait behind a batch of contacts and its flush, and
 * what they write (a view's audit row) is not worth a wait on the disk
 * (gw_channel.h says what a crash can lose).
 */
#include "gw_intake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_announcer.h"
#include "gw_channel.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_log.h"
#include "gw_register.h"
#include "gw_schema.h"
#include "gw_spool.h"

struct job_list {
    struct gw_intake_job *head, *tail;
    size_t n;
};

/* Jobs waiting for one kind of worker, and the workers waiting for them. */
struct lane {
    pthread_cond_t work;
    struct job_list pending;
    int idle_workers; /* workers waiting for jobs, for splitting a backlog fairly */
};

enum { LANE_REGISTER, LANE_OWN, LANE_READ, LANES };

/* Slow operations waiting at most; more are refused (503, retry later). */
#define OWN_LANE_QUEUE_MAX 8

struct worker_arg {
    struct gw_intake *in;
    struct lane *lane;
};

struct gw_intake {
    const struct gw_config *cfg;
    pthread_mutex_t lock;
    struct lane lanes[LANES];
    struct job_list done;
    size_t in_flight;
    int stopping;
    pthread_t *threads;
    struct worker_arg *args;
    int n_threads;
    gw_intake_wake_fn wake;
    void *wake_user;
    void (*commit_hook)(void *);
    void *commit_user;
    struct gw_announcer *announcer;
    struct gw_spool *spool; /* NULL: no spool */
};

static void list_push(struct job_list *l, struct gw_intake_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static struct gw_intake_job *list_pop(struct job_list *l)
{
    struct gw_intake_job *j = l->head;
    if (j) {
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
        j->next = NULL;
    }
    return j;
}

/* The read lane's session setting: commits do not wait for the WAL flush. */
static bool commit_without_flush(PGconn *c)
{
    PGresult *r = PQexec(c, "SET synchronous_commit = off");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        gw_error("database: cannot set the read lane's commits: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static int ensure_connection(struct gw_intake *in, PGconn **conn, const char *name, bool read_lane)
{
    if (*conn && !gw_db_is_broken(*conn))
        return 1;
    if (*conn) {
        PQfinish(*conn);
        *conn = NULL;
    }
    PGconn *c = NULL;
    if (gw_db_connect(in->cfg->database_url, name, &c) != GW_OK)
        return 0;
    if (gw_register_prepare(c) != GW_OK || (read_lane && !commit_without_flush(c))) {
        PQfinish(c);
        return 0;
    }
    *conn = c;
    return 1;
}

/*
 * Runs the parses the event loop deferred to us; returns the jobs left to
 * register in todo (the ones that parsed, and everything else).
 */
static size_t parse_deferred(struct gw_intake_job **batch, size_t n, struct gw_intake_job **todo)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        struct gw_intake_job *j = batch[i];
        memset(&j->result, 0, sizeof(j->result));
        if (j->parse && j->parse(j->parse_arg, j->arena, &j->contact) != GW_OK) {
            j->result.err = GW_ERR_INVALID;
            continue;
        }
        todo[m++] = j;
    }
    return m;
}

/*
 * Keeps a verified contact in the spool (on this thread: it waits for the
 * disk, which the event loop must not) and answers it as spooled, or as
 * 503 when the spool is over a bound or cannot be written.
 */
static void spool_job(struct gw_intake *in, struct gw_intake_job *job)
{
    const char *was = gw_job_log_request(job);
    enum gw_err err = gw_spool_append(in->spool, in->cfg, job);
    gw_log_set_request(was);
    memset(&job->result, 0, sizeof(job->result));
    if (err == GW_OK) {
        job->result.spooled = true;
        return;
    }
    job->result.err = GW_ERR_DB_UNAVAILABLE;
    snprintf(job->result.detail, sizeof(job->result.detail), "%s",
             err == GW_ERR_BUSY ? "the database is unavailable and this gateway's spool is full"
                                : "the database is unavailable and the spool cannot be written");
}

/*
 * While the spool holds contacts, a new one that may spool joins them at the
 * end instead of overtaking them: the events of a call keep their order.
 * Returns the jobs left in todo.
 */
static size_t queue_behind_spool(struct gw_intake *in, struct gw_intake_job **todo, size_t m)
{
    if (!in->spool || !gw_spool_busy(in->spool))
        return m;
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (todo[i]->may_spool)
            spool_job(in, todo[i]);
        else
            todo[k++] = todo[i];
    return k;
}

/* The contacts the database could not be reached for, that may spool, are spooled. */
static void spool_unreachable(struct gw_intake *in, struct gw_intake_job **todo, size_t m)
{
    for (size_t i = 0; in->spool && i < m; i++)
        if (todo[i]->may_spool && todo[i]->result.err == GW_ERR_DB_UNAVAILABLE &&
            todo[i]->result.unreachable)
            spool_job(in, todo[i]);
}

static void *worker_main(void *arg)
{
    struct gw_intake *in = ((struct worker_arg *)arg)->in;
    struct lane *lane = ((struct worker_arg *)arg)->lane;
    PGconn *conn = NULL;
    /* Slow operations one at a time: each its own transaction. */
    size_t cap = lane == &in->lanes[LANE_OWN] ? 1 : (size_t)in->cfg->db_batch_max;
    const char *lane_name = lane == &in->lanes[LANE_OWN]    ? "intake-slow"
                            : lane == &in->lanes[LANE_READ] ? "intake-read"
                                                            : "intake-register";
    struct gw_intake_job **batch = calloc(cap, sizeof(*batch));
    struct gw_intake_job **todo = calloc(cap, sizeof(*todo));
    if (!batch || !todo) {
        free(batch);
        free(todo);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&in->lock);
        lane->idle_workers++;
        while (!lane->pending.head && !in->stopping)
            pthread_cond_wait(&lane->work, &in->lock);
        /*
         * Take an even share of the backlog when other workers are idle, so
         * a burst is committed by all of them in parallel rather than by one
         * while the rest wait.
         */
        size_t share =
            (lane->pending.n + (size_t)lane->idle_workers - 1) / (size_t)lane->idle_workers;
        lane->idle_workers--;
        if (share < cap)
            share = share ? share : 1;
        else
            share = cap;
        size_t n = 0;
        while (n < share && lane->pending.head)
            batch[n++] = list_pop(&lane->pending);
        if (lane->pending.head)
            pthread_cond_signal(&lane->work);
        int stop = n == 0 && in->stopping;
        pthread_mutex_unlock(&in->lock);
        if (stop)
            break;

        int committed = 0;
        size_t m = queue_behind_spool(in, todo, parse_deferred(batch, n, todo));
        if (m && !ensure_connection(in, &conn, lane_name, lane == &in->lanes[LANE_READ])) {
            for (size_t i = 0; i < m; i++) {
                memset(&todo[i]->result, 0, sizeof(todo[i]->result));
                todo[i]->result.err = GW_ERR_DB_UNAVAILABLE;
                todo[i]->result.unreachable = true;
            }
        } else if (m && gw_register_batch(conn, in->cfg, todo, m) == GW_ERR_DB_UNAVAILABLE) {
            PQfinish(conn);
            conn = NULL;
        }
        spool_unreachable(in, todo, m);
        for (size_t i = 0; i < n; i++)
            if (batch[i]->kind == GW_JOB_OPERATION && batch[i]->result.err == GW_OK &&
                batch[i]->result.document && batch[i]->operation->finish) {
                const char *was = gw_job_log_request(batch[i]);
                batch[i]->operation->finish(&batch[i]->result, batch[i]->arena);
                gw_log_set_request(was);
            }
        for (size_t i = 0; i < n; i++)
            if (in->announcer && batch[i]->result.err == GW_OK && batch[i]->result.announce_session)
                gw_announcer_post(in->announcer, batch[i]->result.announce_session,
                                  batch[i]->result.announce_seq);
        for (size_t i = 0; i < n; i++)
            if (batch[i]->result.err == GW_OK && !batch[i]->result.spooled &&
                ((batch[i]->kind == GW_JOB_REGISTER && !batch[i]->result.duplicate) ||
                 batch[i]->kind == GW_JOB_OPERATION))
                committed = 1;
        if (committed && in->commit_hook)
            in->commit_hook(in->commit_user);

        pthread_mutex_lock(&in->lock);
        for (size_t i = 0; i < n; i++)
            list_push(&in->done, batch[i]);
        pthread_mutex_unlock(&in->lock);
        in->wake(in->wake_user);
    }
    free(batch);
    free(todo);
    if (conn)
        PQfinish(conn);
    return NULL;
}

enum gw_err gw_intake_create(const struct gw_config *cfg, gw_intake_wake_fn wake, void *wake_user,
                             struct gw_intake **out)
{
    struct gw_intake *in = calloc(1, sizeof(*in));
    if (!in)
        return GW_ERR_NOMEM;
    in->cfg = cfg;
    in->wake = wake;
    in->wake_user = wake_user;
    pthread_mutex_init(&in->lock, NULL);
    for (int l = 0; l < LANES; l++)
        pthread_cond_init(&in->lanes[l].work, NULL);
    /* cfg->db_workers registration workers, one for the own lane, one for the read lane. */
    int n = cfg->db_workers + 2;
    in->threads = calloc((size_t)n, sizeof(*in->threads));
    in->args = calloc((size_t)n, sizeof(*in->args));
    if (!in->threads || !in->args) {
        free(in->threads);
        free(in->args);
        free(in);
        return GW_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        in->args[i].in = in;
        in->args[i].lane = &in->lanes[i < cfg->db_workers    ? LANE_REGISTER
                                      : i == cfg->db_workers ? LANE_OWN
                                                             : LANE_READ];
        if (pthread_create(&in->threads[i], NULL, worker_main, &in->args[i]) != 0) {
            gw_intake_destroy(in);
            return GW_ERR_NOMEM;
        }
        in->n_threads++;
    }
    *out = in;
    return GW_OK;
}

void gw_intake_stop(struct gw_intake *in)
{
    pthread_mutex_lock(&in->lock);
    in->stopping = 1;
    for (int l = 0; l < LANES; l++)
        pthread_cond_broadcast(&in->lanes[l].work);
    pthread_mutex_unlock(&in->lock);
    for (int i = 0; i < in->n_threads; i++)
        pthread_join(in->threads[i], NULL);
    in->n_threads = 0;
}

void gw_intake_destroy(struct gw_intake *in)
{
    if (!in)
        return;
    gw_intake_stop(in);
    pthread_mutex_destroy(&in->lock);
    for (int l = 0; l < LANES; l++)
        pthread_cond_destroy(&in->lanes[l].work);
    free(in->threads);
    free(in->args);
    free(in);
}

void gw_intake_set_commit_hook(struct gw_intake *in, void (*hook)(void *), void *user)
{
    in->commit_hook = hook;
    in->commit_user = user;
}

void gw_intake_set_spool(struct gw_intake *in, struct gw_spool *spool)
{
    in->spool = spool;
}

void gw_intake_set_announcer(struct gw_intake *in, struct gw_announcer *announcer)
{
    in->announcer = announcer;
}

enum gw_err gw_intake_submit(struct gw_intake *in, struct gw_intake_job *job)
{
    if (!job->parse && gw_intake_job_prepare(in->cfg, job) != GW_OK)
        return GW_ERR_NOMEM;
    const struct gw_operation *op = job->kind == GW_JOB_OPERATION ? job->operation : NULL;
    struct lane *lane = &in->lanes[op && op->own_lane    ? LANE_OWN
                                   : op && op->read_lane ? LANE_READ
                                                         : LANE_REGISTER];
    pthread_mutex_lock(&in->lock);
    enum gw_err err = GW_OK;
    if (in->stopping)
        err = GW_ERR_SHUTTING_DOWN;
    else if (lane->pending.n >=
             (lane == &in->lanes[LANE_OWN] ? OWN_LANE_QUEUE_MAX : (size_t)in->cfg->queue_max))
        err = GW_ERR_BUSY;
    else {
        list_push(&lane->pending, job);
        in->in_flight++;
        pthread_cond_signal(&lane->work);
    }
    pthread_mutex_unlock(&in->lock);
    return err;
}

size_t gw_intake_collect(struct gw_intake *in, gw_intake_done_fn done, void *user)
{
    pthread_mutex_lock(&in->lock);
    struct job_list ready = in->done;
    memset(&in->done, 0, sizeof(in->done));
    in->in_flight -= ready.n;
    pthread_mutex_unlock(&in->lock);
    size_t count = 0;
    struct gw_intake_job *j;
    while ((j = list_pop(&ready)) != NULL) {
        done(j, user);
        count++;
    }
    return count;
}

size_t gw_intake_in_flight(struct gw_intake *in)
{
    pthread_mutex_lock(&in->lock);
    size_t n = in->in_flight;
    pthread_mutex_unlock(&in->lock);
    return n;
}

struct gw_intake_session {
    const struct gw_config *cfg;
    PGconn *conn; /* NULL after it broke, until the next call reconnects */
};

static enum gw_err session_connect(struct gw_intake_session *s)
{
    if (s->conn)
        return GW_OK;
    PGconn *conn = NULL;
    enum gw_err err = gw_db_connect(s->cfg->database_url, "intake-command", &conn);
    if (err != GW_OK)
        return err;
    if (gw_register_prepare(conn) != GW_OK) {
        PQfinish(conn);
        return GW_ERR_DB_UNAVAILABLE;
    }
    s->conn = conn;
    return GW_OK;
}

/*
 * A long command must not find out message by message that the database
 * lacks this binary's schema (each would fail alone): it is told at once.
 */
static enum gw_err schema_current(PGconn *conn)
{
    int version = 0;
    bool functions_current = false;
    enum gw_err err = gw_db_schema_version(conn, &version, &functions_current);
    if (err == GW_OK && (version < gw_db_latest_version() || !functions_current))
        err = GW_ERR_CONFIG;
    return err;
}

enum gw_err gw_intake_session_open(const struct gw_config *cfg, struct gw_intake_session **out)
{
    struct gw_intake_session *s = calloc(1, sizeof(*s));
    if (!s)
        return GW_ERR_NOMEM;
    s->cfg = cfg;
    enum gw_err err = session_connect(s);
    if (err == GW_OK)
        err = schema_current(s->conn);
    if (err != GW_OK) {
        gw_intake_session_close(s);
        return err;
    }
    *out = s;
    return GW_OK;
}

enum gw_err gw_intake_job_prepare(const struct gw_config *cfg, struct gw_intake_job *job)
{
    if (job->kind != GW_JOB_REGISTER || job->document)
        return GW_OK;
    char *doc = gw_register_document(cfg, &job->contact);
    job->document = doc ? gw_arena_strdup(job->arena, doc) : NULL;
    free(doc);
    return job->document ? GW_OK : GW_ERR_NOMEM;
}

enum gw_err gw_intake_session_register(struct gw_intake_session *s, struct gw_intake_job **jobs,
                                       size_t n)
{
    enum gw_err err = session_connect(s);
    if (err == GW_OK)
        err = gw_register_batch(s->conn, s->cfg, jobs, n);
    else
        for (size_t i = 0; i < n; i++) {
            memset(&jobs[i]->result, 0, sizeof(jobs[i]->result));
            jobs[i]->result.err = GW_ERR_DB_UNAVAILABLE;
        }
    if (err == GW_ERR_DB_UNAVAILABLE && s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    return err;
}

void gw_intake_session_close(struct gw_intake_session *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    free(s);
}

enum gw_err gw_intake_register_now(const struct gw_config *cfg, struct gw_intake_job *job)
{
    /* One message: no schema check first (a round trip more for every pipe delivery). */
    struct gw_intake_session s = {.cfg = cfg};
    enum gw_err err = session_connect(&s);
    if (err != GW_OK)
        return err;
    err = gw_intake_session_register(&s, &job, 1);
    if (s.conn)
        PQfinish(s.conn);
    if (err == GW_OK && job->result.err == GW_ERR_DB_UNAVAILABLE)
        err = GW_ERR_DB_UNAVAILABLE;
    return err;
}
