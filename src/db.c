/*
 * Connections and error classification. Connections use a short connect
 * timeout and TCP keepalives so that a database that disappears is noticed in
 * seconds, and a worker answers "retry later" instead of hanging.
 *
 * Every connection the gateway opens is made here, so this is where the
 * database being away is logged: once when a connect first fails (or the
 * server says it is closing our connections), once when a connect succeeds
 * again, whichever threads notice (gw_log_begin/gw_log_end), never once per
 * retry or per batch. The server's notices go through our logger too: one
 * line with the SQLSTATE and the primary text, which come from our own SQL;
 * never the detail or context, which may quote data.
 */
#include "gw_db.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_config.h"
#include "gw_log.h"
#include "gw_schema.h"

/* The one key of "the database is away", begun and ended by any thread. */
#define DB_AWAY "database.unreachable"

/* Monotonic seconds when the database was first found away; 0 while it is not. */
static atomic_llong away_since;

static long long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec + 1; /* never 0, which means "not away" */
}

/* The first line of a libpq or server message, which may run to several. */
static void first_line(const char *msg, char *out, size_t cap)
{
    size_t n = msg ? strcspn(msg, "\n") : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, msg ? msg : "", n);
    out[n] = '\0';
}

static void away_begins(const char *app_name, const char *libpq_why)
{
    long long none = 0;
    atomic_compare_exchange_strong(&away_since, &none, now_s());
    /* libpq's words, not ours: through the redactor (a URL's password, say). */
    char why[512];
    gw_log_redact(libpq_why, why, sizeof(why));
    gw_log_begin_fields(DB_AWAY, GW_LOG_WARN,
                        GW_FIELDS(GW_STR("connection", app_name), GW_STR("reason", why)),
                        "database: unreachable (%s): %s", app_name, why);
}

static void away_ends(const char *app_name)
{
    /* Ended even without a start time: two threads may cross between the two calls. */
    long long since = atomic_exchange(&away_since, 0);
    char after[32] = "";
    long long away_s = since ? now_s() - since : 0;
    if (since)
        snprintf(after, sizeof(after), " after %lld s", away_s);
    gw_log_end_fields(DB_AWAY,
                      GW_FIELDS(GW_STR("connection", app_name), GW_INT("away_seconds", away_s)),
                      "database: reachable again (%s)%s", app_name, after);
}

/* PostgreSQL's severities (the untranslated ones) on our levels. */
static enum gw_log_level notice_level(const char *severity)
{
    if (!strcmp(severity, "WARNING"))
        return GW_LOG_WARN;
    if (!strcmp(severity, "NOTICE") || !strcmp(severity, "INFO"))
        return GW_LOG_INFO;
    if (!strcmp(severity, "DEBUG") || !strcmp(severity, "LOG"))
        return GW_LOG_DEBUG;
    return GW_LOG_ERROR; /* ERROR, FATAL, PANIC */
}

/* libpq's notice receiver: arg is the connection's application name. */
static void log_notice(void *arg, const PGresult *res)
{
    const char *app_name = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char text[256];
    first_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), text, sizeof(text));
    if (!severity)
        severity = "NOTICE";
    if (!state)
        state = "?";
    /*
     * Class 57P (operator intervention): the server is closing our connection
     * (shutdown, crash, restart). That is the database going away, not a
     * notice about our SQL; the reconnect that works again ends it.
     */
    if (!strncmp(state, "57P", 3)) {
        char why[320];
        snprintf(why, sizeof(why), "the server closed the connection (sqlstate %s: %s)", state,
                 text);
        away_begins(app_name, why);
        return;
    }
    char shown[512];
    gw_log_redact(text, shown, sizeof(shown));
    gw_log_event(notice_level(severity), "database.notice",
                 GW_FIELDS(GW_STR("connection", app_name), GW_STR("severity", severity),
                           GW_STR("sqlstate", state), GW_STR("text", shown)),
                 "database: %s from the server (%s, sqlstate %s): %s", severity, app_name, state,
                 shown);
}

enum gw_err gw_db_connect(const char *url, const char *app_name, PGconn **out)
{
    const char *keys[] = {
        "dbname",          "connect_timeout",     "application_name", "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
    const char *vals[] = {url, "3", app_name, "1", "5", "2", "2", NULL};
    /* expand_dbname=1: the URL (or key=value string) fills in everything it names. */
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn)
        return GW_ERR_NOMEM;
    if (PQstatus(conn) != CONNECTION_OK) {
        char why[256];
        first_line(PQerrorMessage(conn), why, sizeof(why));
        away_begins(app_name, why);
        PQfinish(conn);
        return GW_ERR_DB_UNAVAILABLE;
    }
    PQsetNoticeReceiver(conn, log_notice, (void *)app_name);
    away_ends(app_name);
    *out = conn;
    return GW_OK;
}

int gw_db_is_retryable(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* 40001 serialization failure, 40P01 deadlock: the work itself was fine. */
    return state && (!strcmp(state, "40001") || !strcmp(state, "40P01"));
}

int gw_db_is_broken(PGconn *conn)
{
    return !conn || PQstatus(conn) != CONNECTION_OK;
}

enum gw_err gw_db_sync_queues(PGconn *conn, const struct gw_config *cfg)
{
    size_t len = 3;
    for (size_t i = 0; i < cfg->n_categories; i++)
        len += strlen(cfg->categories[i].queue) + 1;
    char *arr = malloc(len);
    if (!arr)
        return GW_ERR_NOMEM;
    /* Queue names are validated to [a-z0-9_-], so a plain array literal is safe. */
    char *p = arr;
    *p++ = '{';
    for (size_t i = 0; i < cfg->n_categories; i++) {
        size_t n = strlen(cfg->categories[i].queue);
        memcpy(p, cfg->categories[i].queue, n);
        p += n;
        *p++ = i + 1 < cfg->n_categories ? ',' : '}';
    }
    *p = '\0';
    const char *params[] = {arr};
    PGresult *res = PQexecParams(conn, "SELECT intake_queues_ensure($1::text[])", 1, NULL, params,
                                 NULL, NULL, 0);
    free(arr);
    enum gw_err err = PQresultStatus(res) == PGRES_TUPLES_OK ? GW_OK : GW_ERR_DB;
    if (err != GW_OK)
        gw_error("database: could not create configured queues: %s", PQerrorMessage(conn));
    PQclear(res);
    return err;
}
