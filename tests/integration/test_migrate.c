/*
 * `intake migrate`: on an empty database and again on a migrated one, a
 * changed migration, changed and removed functions, a schema too old, and
 * serve on a database not migrated. The upgrade from the old layout:
 * test_migrate_upgrade.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "gw_schema.h"
#include "harness.h"

static void test_migrate_from_empty_then_rerun(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "migrate");
    char out[4096];

    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "applied"));
    PGconn *c = harness_pg(db.url);
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM schema_migrations"),
                     (long)gw_n_migrations);
    assert_int_equal(harness_pg_long(c, "SELECT max(version) FROM schema_migrations"),
                     gw_db_latest_version());
    static const char *const tables[] = {
        "customers",   "customer_identities", "tickets", "messages",
        "attachments", "ticket_events",       "queues",  "agents",
        "outbox"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_tables WHERE tablename = '%s'",
                 tables[i]);
        assert_int_equal(harness_pg_long(c, sql), 1);
    }
    /* The configured queues exist, so routing never points at a missing queue. */
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM queues WHERE name IN "
                                        "('presales','orders','technical','complaints','general')"),
                     5);

    /* A second run applies nothing and changes nothing. */
    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "0 applied"));
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM schema_migrations"),
                     (long)gw_n_migrations);
    PQfinish(c);
    harness_db_drop(&db);
}

static void test_changed_migration_is_refused(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "migrate_changed");
    char out[4096];
    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    PGconn *c = harness_pg(db.url);
    /* As if the baseline had been edited after it was applied somewhere. */
    harness_pg_exec(c, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 20");
    assert_int_not_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "changed after it was applied"));
    PQfinish(c);
    harness_db_drop(&db);
}

/*
 * A function file that changed runs again; a function that no file defines
 * any more is dropped; an extension's functions are left alone.
 */
static void test_changed_functions_are_applied_and_orphans_dropped(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "migrate_functions");
    char out[4096];
    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    PGconn *c = harness_pg(db.url);
    harness_pg_exec(c, "CREATE EXTENSION pg_trgm");
    long extension_functions =
        harness_pg_long(c, "SELECT count(*) FROM pg_depend WHERE deptype = 'e' AND classid = "
                           "'pg_proc'::regclass");
    assert_true(extension_functions > 0);
    /* As after an older release: a body since changed, a function since removed. */
    harness_pg_exec(c, "CREATE OR REPLACE FUNCTION intake_number(p_prefix text, p_n bigint) "
                       "RETURNS text LANGUAGE sql AS $$ SELECT 'old' $$; "
                       "CREATE FUNCTION intake_obsolete(int) RETURNS int LANGUAGE sql "
                       "AS $$ SELECT 1 $$; "
                       "UPDATE schema_functions SET checksum = 'old' WHERE file = 'register.sql'");

    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "0 applied"));
    assert_non_null(strstr(out, "dropped intake_obsolete(integer)"));
    char *number = harness_pg_text(c, "SELECT intake_number('SR-', 7)");
    assert_string_equal(number, "SR-000007");
    free(number);
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM pg_proc WHERE proname = "
                                        "'intake_obsolete'"),
                     0);
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM pg_depend WHERE deptype = 'e' "
                                        "AND classid = 'pg_proc'::regclass"),
                     extension_functions);
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM schema_functions"),
                     (long)gw_n_function_files);

    /* Nothing changed since: the files do not run again. */
    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_null(strstr(out, "function files"));
    PQfinish(c);
    harness_db_drop(&db);
}

/* A schema of the old layout older than the baseline adopts is refused, untouched. */
static void test_too_old_a_schema_is_refused(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "migrate_too_old");
    PGconn *c = harness_pg(db.url);
    harness_pg_exec(c, "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                       "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); "
                       "INSERT INTO schema_migrations (version, name) VALUES (1, 'init'), "
                       "(5, 'desk')");
    char out[4096];
    assert_int_not_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "schema is at version 5, older than this release upgrades"));
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM pg_tables WHERE tablename IN "
                                        "('tickets', 'schema_functions')"),
                     0);
    PQfinish(c);
    harness_db_drop(&db);
}

static void test_serve_refuses_an_unmigrated_database(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "migrate_missing");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' INTAKE_API_TOKEN=%s "
             "INTAKE_LISTEN=127.0.0.1:%d %s serve 2>&1",
             db.url, HARNESS_TOKEN, harness_free_port(), INTAKE_BINARY);
    FILE *p = popen(cmd, "r");
    char out[2048];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 78);
    assert_non_null(strstr(out, "intake migrate"));
    harness_db_drop(&db);
}

static void test_migrate_unreachable_database_is_tempfail(void **state)
{
    (void)state;
    char url[128], out[1024];
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/none", harness_free_port());
    /* 75 = EX_TEMPFAIL: a supervisor should retry, not give up. */
    assert_int_equal(harness_migrate(url, out, sizeof(out)), 75);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_from_empty_then_rerun),
        cmocka_unit_test(test_migrate_unreachable_database_is_tempfail),
        cmocka_unit_test(test_changed_migration_is_refused),
        cmocka_unit_test(test_changed_functions_are_applied_and_orphans_dropped),
        cmocka_unit_test(test_too_old_a_schema_is_refused),
        cmocka_unit_test(test_serve_refuses_an_unmigrated_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
