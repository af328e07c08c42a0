/* `intake migrate` on an empty database, and again on a migrated one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
