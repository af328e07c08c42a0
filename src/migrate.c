/*
 * Schema migrations. The SQL files in db/ are compiled into the binary (see
 * cmake/embed_migrations.cmake) so `intake migrate` needs no install path.
 * Each migration runs once, in its own transaction, recorded in
 * schema_migrations; a session advisory lock keeps two nodes from migrating
 * at the same time.
 */
#include "gw_db.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_log.h"

/* Arbitrary but fixed: "intake" in ASCII. */
#define MIGRATION_LOCK_KEY "115923119860581"

static int exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        gw_error("migrate: %s", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

/* SHA-256 of a migration's text, hex; what was applied must never change. */
static void checksum(const char *sql, char out[65])
{
    unsigned char d[32];
    unsigned int n = 32;
    EVP_Digest(sql, strlen(sql), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int is_applied(PGconn *conn, const struct gw_migration *m, int *applied)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", m->version);
    const char *params[] = {v};
    PGresult *res = PQexecParams(conn, "SELECT checksum FROM schema_migrations WHERE version = $1",
                                 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        gw_error("migrate: cannot read schema_migrations: %s", PQresultErrorMessage(res));
    if (ok) {
        *applied = PQntuples(res) > 0;
        char sum[65];
        checksum(m->sql, sum);
        if (*applied && !PQgetisnull(res, 0, 0) && strcmp(PQgetvalue(res, 0, 0), sum)) {
            gw_error("migrate: %04d_%s was changed after it was applied; migrations are "
                     "forward-only: add a new one instead",
                     m->version, m->name);
            ok = 0;
        }
    }
    PQclear(res);
    return ok;
}

static int apply_one(PGconn *conn, const struct gw_migration *m)
{
    if (!exec_ok(conn, "BEGIN"))
        return 0;
    char v[16];
    snprintf(v, sizeof(v), "%d", m->version);
    char sum[65];
    checksum(m->sql, sum);
    const char *params[] = {v, m->name, sum};
    if (!exec_ok(conn, m->sql))
        goto fail;
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO schema_migrations (version, name, checksum) "
                                 "VALUES ($1, $2, $3)",
                                 3, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok || !exec_ok(conn, "COMMIT"))
        goto fail;
    gw_info("migrate: applied %04d_%s", m->version, m->name);
    return 1;
fail:
    gw_error("migrate: %04d_%s failed and was rolled back", m->version, m->name);
    PGresult *rb = PQexec(conn, "ROLLBACK");
    PQclear(rb);
    return 0;
}

enum gw_err gw_db_migrate(PGconn *conn, int *applied)
{
    int count = 0;
    if (!exec_ok(conn, "SET client_min_messages = warning") ||
        !exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")"))
        return gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_ERR_DB;
    enum gw_err err = GW_OK;
    if (!exec_ok(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version integer PRIMARY KEY, name text NOT NULL, checksum text,"
                       " applied_at timestamptz NOT NULL DEFAULT now())") ||
        /* Databases migrated before migrations carried checksums lack the column. */
        !exec_ok(conn, "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")) {
        err = GW_ERR_DB;
        goto out;
    }
    for (size_t i = 0; i < gw_n_migrations; i++) {
        int done = 0;
        if (!is_applied(conn, &gw_migrations[i], &done)) {
            err = GW_ERR_DB;
            goto out;
        }
        if (done)
            continue;
        if (!apply_one(conn, &gw_migrations[i])) {
            err = GW_ERR_DB;
            goto out;
        }
        count++;
    }
out:;
    PGresult *res = PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")");
    PQclear(res);
    if (err == GW_OK)
        *applied = count;
    return err;
}

int gw_db_latest_version(void)
{
    return gw_n_migrations ? gw_migrations[gw_n_migrations - 1].version : 0;
}

enum gw_err gw_db_schema_version(PGconn *conn, int *version)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    enum gw_err err = GW_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* No table yet: nothing was ever migrated. */
        err = gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_OK;
        if (err == GW_OK)
            *version = 0;
    } else {
        *version = atoi(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return err;
}
