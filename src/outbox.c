/*
 * Outbox dispatcher. Claiming sets status 'sending' and pushes
 * next_attempt_at out by a lease, in one statement with FOR UPDATE SKIP
 * LOCKED: a second gateway skips rows the first holds, and rows a crashed
 * process held come back when the lease runs out. A delivery that may have
 * reached the receiver before a crash can be repeated, so every callback
 * carries an Idempotency-Key (the outbox row) for the receiver to drop.
 */
#include "gw_outbox.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_http_send.h"
#include "gw_log.h"

#define CLAIM_BATCH   32
#define MAX_BACKOFF_S 3600

struct gw_outbox {
    const struct gw_config *cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t kick;
    int kicked;
    int stopping;
};

struct claimed {
    const char *id, *kind, *channel, *payload;
    int attempts;
};

static int exec_params(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        gw_warn("outbox: %s", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

static int mark_done(PGconn *conn, const char *id, const char *status)
{
    const char *params[] = {id, status};
    return exec_params(conn,
                       "UPDATE outbox SET status = $2, sent_at = now(), last_error = NULL "
                       "WHERE id = $1",
                       2, params);
}

static int mark_retry(PGconn *conn, const struct gw_config *cfg, const struct claimed *row,
                      const char *why)
{
    long delay = cfg->outbox_backoff_s;
    for (int i = 1; i < row->attempts && delay < MAX_BACKOFF_S; i++)
        delay *= 2;
    if (delay > MAX_BACKOFF_S)
        delay = MAX_BACKOFF_S;
    char d[24], max[16];
    snprintf(d, sizeof(d), "%ld", delay);
    snprintf(max, sizeof(max), "%d", cfg->outbox_max_attempts);
    const char *params[] = {row->id, d, max, why};
    int ok = exec_params(conn,
                         "UPDATE outbox SET status = CASE WHEN attempts >= $3::int THEN 'failed' "
                         "ELSE 'pending' END, next_attempt_at = now() + make_interval(secs => "
                         "$2::int), last_error = $4 WHERE id = $1",
                         4, params);
    if (row->attempts >= cfg->outbox_max_attempts)
        gw_error("outbox: row %s (%s) failed for good after %d attempts: %s", row->id, row->kind,
                 row->attempts, why);
    return ok;
}

/* Agent notifications go out as NOTIFY, delivered by PostgreSQL on commit. */
static int publish_agent_event(PGconn *conn, const struct claimed *row)
{
    const char *params[] = {GW_AGENT_EVENTS_CHANNEL, row->payload, row->id};
    return exec_params(conn,
                       "WITH sent AS (UPDATE outbox SET status = 'sent', sent_at = now(), "
                       "last_error = NULL WHERE id = $3 RETURNING id) "
                       "SELECT pg_notify($1, $2) FROM sent",
                       3, params);
}

static int deliver_ack(PGconn *conn, CURL *curl, const struct gw_config *cfg,
                       const struct claimed *row)
{
    const struct gw_channel *ch = gw_channel_find(row->channel);
    if (!ch || !ch->render_ack)
        return mark_retry(conn, cfg, row, "no channel can send this acknowledgement");
    json_t *payload = json_loads(row->payload, 0, NULL);
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_delivery d;
    int ok;
    if (!payload || !arena || ch->render_ack(payload, cfg, arena, &d) != GW_OK) {
        ok = mark_retry(conn, cfg, row, "could not render the acknowledgement");
    } else if (d.kind == GW_DELIVER_NONE) {
        ok = mark_done(conn, row->id, "skipped");
    } else {
        char why[256] = "";
        char key[48];
        snprintf(key, sizeof(key), "outbox-%s", row->id);
        if (gw_http_post(curl, d.url, d.content_type, d.body, d.body_len, key, why, sizeof(why)) ==
            GW_OK) {
            ok = mark_done(conn, row->id, "sent");
        } else {
            gw_warn("outbox: row %s delivery attempt %d failed: %s", row->id, row->attempts, why);
            ok = mark_retry(conn, cfg, row, why);
        }
    }
    json_decref(payload);
    gw_arena_destroy(arena);
    return ok;
}

enum gw_err gw_outbox_run_once(PGconn *conn, void *curl, const struct gw_config *cfg, int limit,
                               int *handled)
{
    char lease[16], lim[16];
    snprintf(lease, sizeof(lease), "%d", cfg->outbox_lease_s);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[] = {lease, lim};
    PGresult *res =
        PQexecParams(conn,
                     "UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1, "
                     "next_attempt_at = now() + make_interval(secs => $1::int) "
                     "WHERE o.id IN (SELECT id FROM outbox WHERE status IN ('pending', 'sending') "
                     "AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $2::int "
                     "FOR UPDATE SKIP LOCKED) "
                     "RETURNING o.id, o.kind, coalesce(o.channel, ''), o.payload::text, o.attempts",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_ERR_DB;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        struct claimed row = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                              PQgetvalue(res, i, 3), atoi(PQgetvalue(res, i, 4))};
        if (!strcmp(row.kind, "ack"))
            deliver_ack(conn, curl, cfg, &row);
        else if (!strcmp(row.kind, "agent_notify"))
            publish_agent_event(conn, &row);
        else
            mark_retry(conn, cfg, &row, "unknown outbox kind");
    }
    PQclear(res);
    *handled = n;
    return GW_OK;
}

static void wait_for_kick(struct gw_outbox *ob, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ob->lock);
    while (!ob->kicked && !ob->stopping)
        if (pthread_cond_timedwait(&ob->kick, &ob->lock, &until) == ETIMEDOUT)
            break;
    ob->kicked = 0;
    pthread_mutex_unlock(&ob->lock);
}

static int stopping(struct gw_outbox *ob)
{
    pthread_mutex_lock(&ob->lock);
    int s = ob->stopping;
    pthread_mutex_unlock(&ob->lock);
    return s;
}

static void *dispatcher_main(void *arg)
{
    struct gw_outbox *ob = arg;
    PGconn *conn = NULL;
    CURL *curl = curl_easy_init();
    while (!stopping(ob)) {
        int handled = 0;
        if (gw_db_is_broken(conn)) {
            PQfinish(conn);
            conn = NULL;
            if (gw_db_connect(ob->cfg->database_url, "intake-outbox", &conn) != GW_OK)
                conn = NULL;
        }
        if (conn && curl && gw_outbox_run_once(conn, curl, ob->cfg, CLAIM_BATCH, &handled) != GW_OK)
            handled = 0;
        if (handled < CLAIM_BATCH)
            wait_for_kick(ob, ob->cfg->outbox_poll_ms);
    }
    if (curl)
        curl_easy_cleanup(curl);
    PQfinish(conn);
    return NULL;
}

enum gw_err gw_outbox_start(const struct gw_config *cfg, struct gw_outbox **out)
{
    struct gw_outbox *ob = calloc(1, sizeof(*ob));
    if (!ob)
        return GW_ERR_NOMEM;
    ob->cfg = cfg;
    pthread_mutex_init(&ob->lock, NULL);
    pthread_cond_init(&ob->kick, NULL);
    if (pthread_create(&ob->thread, NULL, dispatcher_main, ob) != 0) {
        pthread_mutex_destroy(&ob->lock);
        pthread_cond_destroy(&ob->kick);
        free(ob);
        return GW_ERR_NOMEM;
    }
    *out = ob;
    return GW_OK;
}

void gw_outbox_kick(void *arg)
{
    struct gw_outbox *ob = arg;
    pthread_mutex_lock(&ob->lock);
    ob->kicked = 1;
    pthread_cond_signal(&ob->kick);
    pthread_mutex_unlock(&ob->lock);
}

void gw_outbox_stop(struct gw_outbox *ob)
{
    if (!ob)
        return;
    pthread_mutex_lock(&ob->lock);
    ob->stopping = 1;
    pthread_cond_signal(&ob->kick);
    pthread_mutex_unlock(&ob->lock);
    pthread_join(ob->thread, NULL);
    pthread_mutex_destroy(&ob->lock);
    pthread_cond_destroy(&ob->kick);
    free(ob);
}
