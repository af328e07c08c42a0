/*
 * Schema migrations and the database's functions. The SQL under db/ is
 * compiled into the binary (cmake/embed_migrations.cmake), so `intake
 * migrate` needs no install path. Two kinds of files:
 *
 * - db/migrations/NNNN_name.sql change tables, types, indexes and data. Each
 *   runs once, is recorded with its checksum in schema_migrations, and must
 *   never change after it landed (a changed one is refused).
 * - db/functions/<area>.sql hold every function in its current version, each
 *   in one place, changed in place. Their checksums are kept in
 *   schema_functions; when any file changed (or any migration ran, which may
 *   have dropped what a function needs), every function of ours is dropped
 *   and every file runs again, so a file may change a function's arguments
 *   or result. A function that something else depends on cannot be dropped
 *   and is replaced instead; if no file created it in this transaction (read
 *   from pg_proc's xmin: CREATE OR REPLACE rewrites the row even when nothing
 *   changed), no file defines it any more, and it is dropped at the end.
 *   Running every file, rather than only the changed ones, is what makes
 *   that possible without parsing SQL. Running gateways re-plan their
 *   prepared statements against the new functions by name.
 *
 * Everything runs in one transaction under a session advisory lock, so two
 * nodes never migrate at once and a failure leaves the database as it was.
 *
 * Databases made by the nineteen migrations before db/ had this layout (up to
 * version 19) hold every table of 0020_baseline already: from version 18 on,
 * the baseline is recorded as applied instead of run. Older ones must first
 * migrate with a release of that time.
 */
#include "gw_schema.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_log.h"

/* Arbitrary but fixed: "intake" in ASCII. */
#define MIGRATION_LOCK_KEY "115923119860581"
/* The first migration of this layout, and the oldest version it adopts. */
#define BASELINE_VERSION       20
#define OLDEST_ADOPTED_VERSION 18

static int exec_ok(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        /* A migration that fails on data may quote it (a DETAIL naming a key's value). */
        char shown[2048];
        gw_error("migrate: %s: %s", what,
                 gw_log_redact(PQresultErrorMessage(res), shown, sizeof(shown)));
    }
    PQclear(res);
    return ok;
}

/* One value of a one-row query, or "" (NULL: the query failed). Malloc'd. */
static char *query_value(PGconn *conn, const char *sql, int n_params, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    char *value = NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        gw_error("migrate: %s", PQresultErrorMessage(res));
    else
        value = strdup(PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return value;
}

/* SHA-256 of a file's text, hex. */
static void checksum(const char *sql, char out[65])
{
    unsigned char d[32];
    unsigned int n = 32;
    EVP_Digest(sql, strlen(sql), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int record_migration(PGconn *conn, const struct gw_migration *m)
{
    char v[16], sum[65];
    snprintf(v, sizeof(v), "%d", m->version);
    checksum(m->sql, sum);
    const char *params[] = {v, m->name, sum};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO schema_migrations (version, name, checksum) "
                                 "VALUES ($1, $2, $3)",
                                 3, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        gw_error("migrate: cannot record %04d_%s: %s", m->version, m->name,
                 PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

/* 1 applied, 0 not yet, -1 error (a changed migration included). */
static int is_applied(PGconn *conn, const struct gw_migration *m)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", m->version);
    const char *params[] = {v};
    char *stored = query_value(conn,
                               "SELECT coalesce(checksum, 'none') FROM schema_migrations "
                               "WHERE version = $1",
                               1, params);
    if (!stored)
        return -1;
    char sum[65];
    checksum(m->sql, sum);
    int r = *stored ? 1 : 0;
    if (r && strcmp(stored, "none") && strcmp(stored, sum)) {
        gw_error("migrate: %04d_%s was changed after it was applied; migrations are "
                 "forward-only: add a new one instead (functions live in db/functions/)",
                 m->version, m->name);
        r = -1;
    }
    free(stored);
    return r;
}

/*
 * A database of the old layout: the baseline is what it has. Records the
 * baseline as applied there, or refuses a version too old to adopt.
 */
static int adopt_old_layout(PGconn *conn)
{
    char *v = query_value(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL);
    if (!v)
        return 0;
    int version = atoi(v);
    free(v);
    if (version == 0 || version >= BASELINE_VERSION)
        return 1;
    if (version < OLDEST_ADOPTED_VERSION) {
        gw_error("migrate: the schema is at version %d, older than this release upgrades "
                 "(%d): migrate it with an earlier release first",
                 version, OLDEST_ADOPTED_VERSION);
        return 0;
    }
    for (size_t i = 0; i < gw_n_migrations; i++)
        if (gw_migrations[i].version == BASELINE_VERSION) {
            gw_info("migrate: schema version %d holds %04d_%s already; recorded as applied",
                    version, BASELINE_VERSION, gw_migrations[i].name);
            return record_migration(conn, &gw_migrations[i]);
        }
    return 1;
}

/* Applies pending migrations; *count counts them. */
static int apply_migrations(PGconn *conn, int *count)
{
    for (size_t i = 0; i < gw_n_migrations; i++) {
        const struct gw_migration *m = &gw_migrations[i];
        int done = is_applied(conn, m);
        if (done < 0)
            return 0;
        if (done)
            continue;
        char what[128];
        snprintf(what, sizeof(what), "%04d_%s", m->version, m->name);
        if (!exec_ok(conn, m->sql, what) || !record_migration(conn, m))
            return 0;
        gw_info("migrate: applied %s", what);
        (*count)++;
    }
    return 1;
}

/* Whether every function file's checksum is the one stored, and no other is. */
static int functions_current(PGconn *conn, int *current)
{
    PGresult *res = PQexec(conn, "SELECT file, checksum FROM schema_functions");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        *current = 0; /* no table yet: never applied */
        return !gw_db_is_broken(conn);
    }
    int matched = 0;
    for (size_t i = 0; i < gw_n_function_files; i++) {
        char sum[65];
        checksum(gw_function_files[i].sql, sum);
        for (int r = 0; r < PQntuples(res); r++)
            if (!strcmp(PQgetvalue(res, r, 0), gw_function_files[i].name) &&
                !strcmp(PQgetvalue(res, r, 1), sum))
                matched++;
    }
    *current = matched == (int)gw_n_function_files && PQntuples(res) == matched;
    PQclear(res);
    return 1;
}

/* Our functions: the public schema's, less those an extension installed. */
#define OUR_FUNCTIONS                                                                              \
    "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS ("                \
    "SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid "         \
    "AND d.deptype = 'e')"

/* Drops every function of ours that this transaction did not (re)create. */
static int drop_orphans(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT p.oid::regprocedure::text " OUR_FUNCTIONS
                                 " AND p.xmin::text::bigint <> txid_current() % 4294967296");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        gw_error("migrate: cannot list functions: %s", PQresultErrorMessage(res));
        PQclear(res);
        return 0;
    }
    int ok = 1;
    for (int r = 0; r < PQntuples(res) && ok; r++) {
        const char *fn = PQgetvalue(res, r, 0);
        char sql[1024];
        /* regprocedure's text is quoted where it must be: name(argument types). */
        snprintf(sql, sizeof(sql), "DROP FUNCTION %s", fn);
        ok = exec_ok(conn, sql, "dropping a function no file defines");
        if (ok)
            gw_info("migrate: dropped %s (no file in db/functions defines it)", fn);
    }
    PQclear(res);
    return ok;
}

/*
 * Drops every function of ours first, so that a file may change a
 * function's arguments or result (which CREATE OR REPLACE refuses); one
 * that a table, index or view depends on stays (it can only be replaced),
 * and is dropped later only if no file defines it any more (drop_orphans),
 * where the dependency then fails the migration with its reason.
 */
static int drop_all_functions(PGconn *conn)
{
    return exec_ok(conn,
                   "CREATE TEMP TABLE dropped_functions (f text) ON COMMIT DROP; "
                   "DO $$ DECLARE r record; BEGIN FOR r IN SELECT p.oid::regprocedure::text AS "
                   "f " OUR_FUNCTIONS " LOOP BEGIN EXECUTE 'DROP FUNCTION ' || r.f; "
                   "INSERT INTO dropped_functions VALUES (r.f); "
                   "EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END; END LOOP; END $$",
                   "dropping the functions to make them anew");
}

/* Says which of the functions dropped no file made again: they are gone for good. */
static int log_gone(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT f FROM dropped_functions "
                                 "WHERE to_regprocedure(f) IS NULL ORDER BY f");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    for (int r = 0; ok && r < PQntuples(res); r++)
        gw_info("migrate: dropped %s (no file in db/functions defines it)", PQgetvalue(res, r, 0));
    PQclear(res);
    return ok;
}

static int apply_functions(PGconn *conn)
{
    /* Bodies refer to each other in any order; plpgsql checks them when run. */
    if (!exec_ok(conn, "SET LOCAL check_function_bodies = off", "check_function_bodies") ||
        !exec_ok(conn, "DELETE FROM schema_functions", "schema_functions") ||
        !drop_all_functions(conn))
        return 0;
    for (size_t i = 0; i < gw_n_function_files; i++) {
        const struct gw_function_file *f = &gw_function_files[i];
        char what[128], sum[65];
        snprintf(what, sizeof(what), "db/functions/%s", f->name);
        if (!exec_ok(conn, f->sql, what))
            return 0;
        checksum(f->sql, sum);
        const char *params[] = {f->name, sum};
        PGresult *res = PQexecParams(conn,
                                     "INSERT INTO schema_functions (file, checksum) "
                                     "VALUES ($1, $2)",
                                     2, NULL, params, NULL, NULL, 0);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            gw_error("migrate: cannot record %s: %s", what, PQresultErrorMessage(res));
        PQclear(res);
        if (!ok)
            return 0;
    }
    if (!log_gone(conn) || !drop_orphans(conn))
        return 0;
    gw_info("migrate: applied %zu function files", gw_n_function_files);
    return 1;
}

static int migrate_in_transaction(PGconn *conn, int *count)
{
    if (!exec_ok(conn, "BEGIN", "begin") ||
        !exec_ok(conn,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL, checksum text,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 "schema_migrations") ||
        /* Databases migrated before migrations carried checksums lack the column. */
        !exec_ok(conn, "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text",
                 "schema_migrations") ||
        !exec_ok(conn,
                 "CREATE TABLE IF NOT EXISTS schema_functions ("
                 " file text PRIMARY KEY, checksum text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 "schema_functions") ||
        !adopt_old_layout(conn) || !apply_migrations(conn, count))
        return 0;
    int current = 0;
    if (!functions_current(conn, &current))
        return 0;
    if ((*count > 0 || !current) && !apply_functions(conn))
        return 0;
    return exec_ok(conn, "COMMIT", "commit");
}

enum gw_err gw_db_migrate(PGconn *conn, int *applied)
{
    if (!exec_ok(conn, "SET client_min_messages = warning", "settings") ||
        !exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", "lock"))
        return gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_ERR_DB;
    int count = 0;
    enum gw_err err = GW_OK;
    if (!migrate_in_transaction(conn, &count)) {
        err = gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_ERR_DB;
        PGresult *rb = PQexec(conn, "ROLLBACK");
        PQclear(rb);
        gw_error("migrate: rolled back; the database is as it was");
    }
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

enum gw_err gw_db_schema_version(PGconn *conn, int *version, bool *functions_are_current)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    enum gw_err err = GW_OK;
    int v = 0, current = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* No table yet: nothing was ever migrated. */
        err = gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_OK;
    } else {
        v = atoi(PQgetvalue(res, 0, 0));
        if (!functions_current(conn, &current))
            err = GW_ERR_DB_UNAVAILABLE;
    }
    PQclear(res);
    if (err == GW_OK) {
        *version = v;
        *functions_are_current = current;
    }
    return err;
}
