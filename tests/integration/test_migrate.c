/* `intake migrate` on an empty database, and again on a migrated one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "gw_db.h"
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
    /* As if 0001 had been edited after it was applied somewhere. */
    harness_pg_exec(c, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
    assert_int_not_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "changed after it was applied"));
    PQfinish(c);
    harness_db_drop(&db);
}

/* A database migrated before migrations carried checksums: later ones still apply. */
static void test_database_from_before_checksums_is_migrated_on(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "migrate_pre_checksum");
    char out[4096];
    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    PGconn *c = harness_pg(db.url);
    /* Back to 0001 only, in the table's old shape. */
    /* Everything later migrations made goes, whatever they are. */
    harness_pg_exec(c, "DO $$ DECLARE r record; BEGIN "
                       "FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p "
                       "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = "
                       "'public' AND p.proname NOT IN ('intake_register', "
                       "'intake_identity_owner') LOOP "
                       "EXECUTE 'DROP FUNCTION ' || r.f || ' CASCADE'; END LOOP; "
                       "FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                       "AND tablename NOT IN ('queues', 'customers', 'customer_identities', "
                       "'agents', 'agent_queues', 'tickets', 'messages', 'message_sources', "
                       "'attachments', 'ticket_events', 'outbox', 'schema_migrations') LOOP "
                       "EXECUTE 'DROP TABLE ' || quote_ident(r.tablename) || ' CASCADE'; "
                       "END LOOP; "
                       "FOR r IN SELECT a.attrelid::regclass AS t, a.attname, b.typname "
                       "FROM pg_attribute a JOIN pg_type d ON d.oid = a.atttypid "
                       "JOIN pg_type b ON b.oid = d.typbasetype "
                       "JOIN pg_class c ON c.oid = a.attrelid WHERE d.typtype = 'd' "
                       "AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace LOOP "
                       "EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s', "
                       "r.t, r.attname, r.typname); END LOOP; "
                       "FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n "
                       "ON n.oid = t.typnamespace WHERE n.nspname = 'public' "
                       "AND t.typtype = 'd' LOOP "
                       "EXECUTE 'DROP DOMAIN ' || quote_ident(r.typname); END LOOP; "
                       "ALTER TABLE customer_identities "
                       "DROP CONSTRAINT customer_identities_value_form; END $$; "
                       "DELETE FROM schema_migrations WHERE version > 1; "
                       "ALTER TABLE schema_migrations DROP COLUMN checksum");
    assert_int_equal(harness_migrate(db.url, out, sizeof(out)), 0);
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM schema_migrations"),
                     harness_pg_long(c, "SELECT count(*) FROM schema_migrations WHERE checksum "
                                        "IS NOT NULL OR version = 1"));
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM calls"), 0);
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
        cmocka_unit_test(test_database_from_before_checksums_is_migrated_on),
        cmocka_unit_test(test_serve_refuses_an_unmigrated_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
