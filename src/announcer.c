/*
 * The announcing thread (see gw_announcer.h). It keeps what it has taken
 * until a send succeeds, so a lost connection delays announcements rather
 * than dropping them; only an overflowing queue drops (and says so).
 * Signals are sent once: a late "is typing" would only mislead.
 */
#include "gw_announcer.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_db.h"
#include "gw_log.h"
#include "gw_session_payload.h"

#define QUEUE_CAP    65536
#define SIGNAL_CAP   1024
#define RECONNECT_MS 500
#define SEND_STMT    "gw_announce"
/*
 * After the first announcement arrives, how long to gather more before
 * sending. Each send is a transaction on our backend and a wake-up of every
 * listening backend and gateway; in the chat bench (1,000 messages a second)
 * announcing took a fifth of a core across those processes. Only the
 * session's other sockets wait this long; the sender's socket has its ack.
 */
#define GATHER_MS 5

typedef char signal_doc[GW_SIGNAL_MAX + 1];

struct gw_announcer {
    char *url;
    char channel[64];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t posted;
    struct gw_session_seq *queue;
    size_t n;
    size_t dropped;
    bool idle; /* waiting for work: a post wakes it */
    signal_doc *signals;
    size_t n_signals;
    bool stopping;
};

static PGconn *connect_for_announcing(const struct gw_announcer *a)
{
    PGconn *conn = NULL;
    if (gw_db_connect(a->url, "intake-announce", &conn) != GW_OK)
        return NULL;
    /*
     * Not waiting for the flush is what keeps the notification lock short.
     * An announcement lost to a crash is healed as gw_announcer.h says.
     */
    PGresult *res = PQexec(conn, "SET synchronous_commit = off");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok) {
        res = PQprepare(conn, SEND_STMT, "SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) p",
                        2, NULL);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok) {
        gw_warn("announcer: cannot prepare: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

static int by_session_then_newest(const void *x, const void *y)
{
    const struct gw_session_seq *a = x, *b = y;
    if (a->session != b->session)
        return (a->session > b->session) - (a->session < b->session);
    return (a->seq < b->seq) - (a->seq > b->seq);
}

/* Keeps the newest announcement of each session; returns how many are left. */
static size_t coalesce(struct gw_session_seq *list, size_t n)
{
    if (n < 2)
        return n;
    qsort(list, n, sizeof(*list), by_session_then_newest);
    size_t kept = 1;
    for (size_t i = 1; i < n; i++)
        if (list[i].session != list[kept - 1].session)
            list[kept++] = list[i];
    return kept;
}

/* One statement, one transaction: every announcement in list, in as few notifications as fit. */
static bool send_all(PGconn *conn, const char *channel, const struct gw_session_seq *list, size_t n)
{
    char *array = gw_session_payload_array(list, n);
    if (!array)
        return false;
    const char *params[] = {channel, array};
    PGresult *res = PQexecPrepared(conn, SEND_STMT, 2, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        gw_warn("announcer: sending failed: %s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    PQclear(res);
    free(array);
    return ok;
}

/* One statement: the signals as a JSON array for intake_session_signals. */
static void send_signals(PGconn *conn, const char *channel, const signal_doc *list, size_t n)
{
    char *array = malloc(n * (GW_SIGNAL_MAX + 1) + 3);
    if (!array)
        return;
    char *p = array;
    *p++ = '[';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", list[i]);
    *p++ = ']';
    *p = '\0';
    const char *params[] = {channel, array};
    /* Unprepared: signals are rare, and a database without the function still announces. */
    PGresult *res = PQexecParams(conn, "SELECT intake_session_signals($1, $2::jsonb)", 2, NULL,
                                 params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        gw_warn("announcer: %zu signals dropped: %s", n,
                PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    PQclear(res);
    free(array);
}

static struct timespec in_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

static void wait_a_while(struct gw_announcer *a)
{
    struct timespec until = in_ms(RECONNECT_MS);
    pthread_mutex_lock(&a->lock);
    int rc = 0;
    while (!a->stopping && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&a->posted, &a->lock, &until);
    pthread_mutex_unlock(&a->lock);
}

/*
 * With the lock held: waits for something to send; when it arrives with
 * nothing held from before, gives more GATHER_MS to join it. Posts wake the
 * thread only while it is idle, not during the gathering.
 */
static void wait_for_work(struct gw_announcer *a, size_t n_held)
{
    while (!a->n && !n_held && !a->n_signals && !a->stopping) {
        a->idle = true;
        pthread_cond_wait(&a->posted, &a->lock);
        a->idle = false;
    }
    if (n_held)
        return;
    struct timespec until = in_ms(GATHER_MS);
    int rc = 0;
    while (!a->stopping && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&a->posted, &a->lock, &until);
}

static void *announcer_main(void *arg)
{
    struct gw_announcer *a = arg;
    struct gw_session_seq *held = malloc(QUEUE_CAP * sizeof(*held));
    signal_doc *signals = malloc(SIGNAL_CAP * sizeof(*signals));
    size_t n_held = 0;
    PGconn *conn = NULL;
    if (!held || !signals)
        gw_error("announcer: out of memory; sessions learn of customers' messages on resume");
    for (bool stop = false; !stop && held && signals;) {
        pthread_mutex_lock(&a->lock);
        wait_for_work(a, n_held);
        size_t take = a->n < QUEUE_CAP - n_held ? a->n : QUEUE_CAP - n_held;
        memcpy(held + n_held, a->queue, take * sizeof(*held));
        memmove(a->queue, a->queue + take, (a->n - take) * sizeof(*held));
        a->n -= take;
        size_t n_signals = a->n_signals;
        memcpy(signals, a->signals, n_signals * sizeof(*signals));
        a->n_signals = 0;
        size_t dropped = a->dropped;
        a->dropped = 0;
        stop = a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (dropped)
            gw_warn("announcer: queue full, %zu announcements dropped (their sessions catch up at "
                    "their next event or on resume)",
                    dropped);
        n_held = coalesce(held, n_held + take);
        if (!n_held && !n_signals)
            continue;
        if (!conn)
            conn = connect_for_announcing(a);
        if (conn && n_signals) {
            send_signals(conn, a->channel, signals, n_signals);
            /*
             * Signals are dropped rather than delayed, but the connection
             * goes now: with no announcement waiting, nothing else would
             * notice it broke, and every later signal would fail on it.
             */
            if (gw_db_is_broken(conn)) {
                PQfinish(conn);
                conn = n_held ? connect_for_announcing(a) : NULL;
            }
        }
        if (!n_held)
            continue;
        if (conn && send_all(conn, a->channel, held, n_held)) {
            n_held = 0;
            continue;
        }
        if (conn && gw_db_is_broken(conn)) {
            PQfinish(conn);
            conn = NULL;
        }
        if (!stop)
            wait_a_while(a);
    }
    if (n_held)
        gw_warn("announcer: stopping with %zu announcements unsent", n_held);
    PQfinish(conn);
    free(held);
    free(signals);
    return NULL;
}

/* Frees what gw_announcer_start made; the thread is not running. */
static void release(struct gw_announcer *a)
{
    pthread_cond_destroy(&a->posted);
    pthread_mutex_destroy(&a->lock);
    free(a->url);
    free(a->queue);
    free(a->signals);
    free(a);
}

enum gw_err gw_announcer_start(const char *database_url, const char *channel,
                               struct gw_announcer **out)
{
    struct gw_announcer *a = calloc(1, sizeof(*a));
    if (!a)
        return GW_ERR_NOMEM;
    a->url = strdup(database_url);
    a->queue = malloc(QUEUE_CAP * sizeof(*a->queue));
    a->signals = malloc(SIGNAL_CAP * sizeof(*a->signals));
    snprintf(a->channel, sizeof(a->channel), "%s", channel);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->posted, NULL);
    if (!a->url || !a->queue || !a->signals ||
        pthread_create(&a->thread, NULL, announcer_main, a) != 0) {
        release(a);
        return GW_ERR_NOMEM;
    }
    *out = a;
    return GW_OK;
}

void gw_announcer_post(struct gw_announcer *a, long long session, long long seq)
{
    pthread_mutex_lock(&a->lock);
    if (a->n < QUEUE_CAP)
        a->queue[a->n++] = (struct gw_session_seq){session, seq};
    else
        a->dropped++;
    if (a->idle)
        pthread_cond_signal(&a->posted);
    pthread_mutex_unlock(&a->lock);
}

void gw_announcer_signal(struct gw_announcer *a, const char *json)
{
    size_t len = strlen(json);
    if (len > GW_SIGNAL_MAX)
        return;
    pthread_mutex_lock(&a->lock);
    if (a->n_signals < SIGNAL_CAP) {
        memcpy(a->signals[a->n_signals++], json, len + 1);
        if (a->idle)
            pthread_cond_signal(&a->posted);
    }
    pthread_mutex_unlock(&a->lock);
}

void gw_announcer_stop(struct gw_announcer *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->posted);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    release(a);
}
