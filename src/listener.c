/*
 * The LISTEN thread (see gw_listener.h). It never queries: it only turns
 * notifications into queue entries, so a burst of them costs the loop one
 * wake-up, and the loop decides what to fetch.
 */
#include "gw_listener.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_db.h"
#include "gw_log.h"
#include "gw_session_payload.h"

#define QUEUE_CAP    65536
#define SIGNAL_CAP   1024
#define POLL_MS      200
#define RECONNECT_MS 500

struct gw_listener {
    char *url;
    char channel[64];
    void (*wake)(void *);
    void *wake_user;
    pthread_t thread;
    pthread_mutex_t lock;
    struct gw_notification *queue;
    size_t n;
    struct gw_signal *signals;
    size_t n_signals;
    bool resync;
    bool stopping;
};

static bool stopping(struct gw_listener *l)
{
    pthread_mutex_lock(&l->lock);
    bool s = l->stopping;
    pthread_mutex_unlock(&l->lock);
    return s;
}

static void push_signal(struct gw_listener *l, long long session, const char *json)
{
    size_t len = strlen(json);
    if (len > GW_SIGNAL_MAX)
        return;
    pthread_mutex_lock(&l->lock);
    if (l->n_signals < SIGNAL_CAP) {
        struct gw_signal *s = &l->signals[l->n_signals++];
        s->session = session;
        memcpy(s->json, json, len + 1);
    }
    pthread_mutex_unlock(&l->lock);
}

static void push(struct gw_listener *l, const char *payload)
{
    long long session;
    int at = 0;
    if (sscanf(payload, "%lld %n", &session, &at) == 1 && at > 0 && payload[at] == '{') {
        push_signal(l, session, payload + at);
        return;
    }
    struct gw_session_seq pairs[GW_PAYLOAD_MAX / 4]; /* "1 1 " is the shortest pair */
    size_t n_pairs = gw_session_payload_read(payload, pairs, sizeof(pairs) / sizeof(*pairs));
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < n_pairs; i++) {
        if (l->n < QUEUE_CAP)
            l->queue[l->n++] = (struct gw_notification){pairs[i].session, pairs[i].seq};
        else
            l->resync = true; /* dropped: the watchers look for themselves */
    }
    pthread_mutex_unlock(&l->lock);
}

static PGconn *connect_and_listen(struct gw_listener *l)
{
    PGconn *conn = NULL;
    if (gw_db_connect(l->url, "intake-listen", &conn) != GW_OK)
        return NULL;
    char sql[96];
    snprintf(sql, sizeof(sql), "LISTEN %s", l->channel);
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

static void *listener_main(void *arg)
{
    struct gw_listener *l = arg;
    PGconn *conn = NULL;
    bool connected_before = false;
    while (!stopping(l)) {
        if (!conn) {
            conn = connect_and_listen(l);
            if (!conn) {
                usleep(RECONNECT_MS * 1000);
                continue;
            }
            if (connected_before) {
                /* Notifications sent while we were away are lost. */
                pthread_mutex_lock(&l->lock);
                l->resync = true;
                pthread_mutex_unlock(&l->lock);
                l->wake(l->wake_user);
            }
            connected_before = true;
        }
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        if (poll(&pfd, 1, POLL_MS) < 0)
            continue;
        if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
            gw_warn("listener: connection lost, reconnecting");
            PQfinish(conn);
            conn = NULL;
            continue;
        }
        int got = 0;
        PGnotify *n;
        while ((n = PQnotifies(conn)) != NULL) {
            push(l, n->extra);
            PQfreemem(n);
            got = 1;
        }
        if (got)
            l->wake(l->wake_user);
    }
    PQfinish(conn);
    return NULL;
}

/* Frees what gw_listener_start made; the thread is not running. */
static void release(struct gw_listener *l)
{
    pthread_mutex_destroy(&l->lock);
    free(l->url);
    free(l->queue);
    free(l->signals);
    free(l);
}

enum gw_err gw_listener_start(const char *database_url, const char *channel, void (*wake)(void *),
                              void *wake_user, struct gw_listener **out)
{
    struct gw_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return GW_ERR_NOMEM;
    l->url = strdup(database_url);
    l->queue = malloc(QUEUE_CAP * sizeof(*l->queue));
    l->signals = malloc(SIGNAL_CAP * sizeof(*l->signals));
    snprintf(l->channel, sizeof(l->channel), "%s", channel);
    l->wake = wake;
    l->wake_user = wake_user;
    pthread_mutex_init(&l->lock, NULL);
    if (!l->url || !l->queue || !l->signals ||
        pthread_create(&l->thread, NULL, listener_main, l) != 0) {
        release(l);
        return GW_ERR_NOMEM;
    }
    *out = l;
    return GW_OK;
}

size_t gw_listener_take(struct gw_listener *l, struct gw_notification *out, size_t cap,
                        bool *resync)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->n < cap ? l->n : cap;
    memcpy(out, l->queue, n * sizeof(*out));
    memmove(l->queue, l->queue + n, (l->n - n) * sizeof(*out));
    l->n -= n;
    *resync = l->resync;
    l->resync = false;
    pthread_mutex_unlock(&l->lock);
    return n;
}

size_t gw_listener_take_signals(struct gw_listener *l, struct gw_signal *out, size_t cap)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->n_signals < cap ? l->n_signals : cap;
    memcpy(out, l->signals, n * sizeof(*out));
    memmove(l->signals, l->signals + n, (l->n_signals - n) * sizeof(*out));
    l->n_signals -= n;
    pthread_mutex_unlock(&l->lock);
    return n;
}

void gw_listener_stop(struct gw_listener *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = true;
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    release(l);
}
