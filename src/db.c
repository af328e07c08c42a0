/*
 * Connections and error classification. Connections use a short connect
 * timeout and TCP keepalives so that a database that disappears is noticed in
 * seconds, and a worker answers "retry later" instead of hanging.
 */
#include "gw_db.h"

#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_log.h"

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
        gw_warn("database: connection failed (%s)", app_name);
        PQfinish(conn);
        return GW_ERR_DB_UNAVAILABLE;
    }
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
