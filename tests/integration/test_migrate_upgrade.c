/*
 * The upgrade from the old layout of db/ (nineteen migrations that each
 * redefined functions) to the baseline and db/functions/: a database built
 * by the old migrations up to version 18 (tests/fixtures/legacy-migrations,
 * as they were when they were replaced), with rows in it, is migrated by
 * today's binary. Its schema must then be exactly a new database's (pg_dump
 * --schema-only, compared line by line), its rows must still be there, and a
 * gateway must serve it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_schema.h"
#include "harness.h"

#define OLD_VERSION 18

/* Applies the old migrations up to OLD_VERSION as the old binary did, recording each. */
static void build_old_database(PGconn *c)
{
    harness_pg_exec(c, "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                       "name text NOT NULL, checksum text, "
                       "applied_at timestamptz NOT NULL DEFAULT now())");
    static const char *const files[] = {"0001_init",
                                        "0002_calls",
                                        "0004_live_sessions",
                                        "0005_desk",
                                        "0006_chat_lock_order",
                                        "0007_chat_message_lean",
                                        "0008_contacts_many",
                                        "0009_check_domains",
                                        "0010_session_announce",
                                        "0011_phone_caller_lock",
                                        "0012_open_tickets_by_customer",
                                        "0013_call_events_in_sets",
                                        "0014_session_signals",
                                        "0015_new_phone_number_lock",
                                        "0016_agent_streams",
                                        "0017_stream_sweep_after_gaps",
                                        "0018_revoked_token_ends_streams"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "legacy-migrations/%s.sql", files[i]);
        size_t len = 0;
        char *sql = (char *)harness_read_fixture(path, &len);
        harness_pg_exec(c, "BEGIN");
        harness_pg_exec(c, sql);
        char record[256];
        snprintf(record, sizeof(record),
                 "INSERT INTO schema_migrations (version, name, checksum) "
                 "VALUES (%d, '%s', 'legacy'); COMMIT",
                 atoi(files[i]), files[i] + 5);
        harness_pg_exec(c, record);
        free(sql);
    }
    assert_int_equal(harness_pg_long(c, "SELECT max(version) FROM schema_migrations"), OLD_VERSION);
}

/* Rows as the old release wrote them: through its registration function. */
static void add_rows(PGconn *c)
{
    harness_pg_exec(c,
                    "INSERT INTO agents (name, email, token_hash) "
                    "VALUES ('Li Wei', 'li@desk.example', 'h1'); "
                    "INSERT INTO agent_queues (agent_id, queue) SELECT id, 'orders' FROM agents");
    for (int i = 1; i <= 3; i++) {
        char sql[1024];
        snprintf(sql, sizeof(sql),
                 "SELECT intake_register_contact('{\"key\": \"api:old-%d\", \"channel\": \"api\", "
                 "\"email\": \"old%d@example.com\", \"name\": \"Old %d\", \"body\": \"Where "
                 "is order %d?\", \"summary\": \"Where is order\", \"category\": \"order\", "
                 "\"priority\": \"normal\", \"queue\": \"orders\", \"first_response_s\": 900, "
                 "\"handling_s\": 172800, \"resolve_s\": 86400, \"ticket_prefix\": \"SR-\", "
                 "\"customer_prefix\": \"C-\"}'::jsonb, NULL)",
                 i, i, i, i);
        harness_pg_exec(c, sql);
    }
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM tickets"), 3);
}

/* The schema as pg_dump writes it, without its comments and session lines (malloc'd). */
static char *schema_of(const char *url)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "pg_dump --schema-only --no-owner --no-privileges '%s'", url);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap), line[8192];
    out[0] = '\0';
    while (fgets(line, sizeof(line), p)) {
        /* Comments name the dump's database; \restrict lines carry a random key. */
        if (!strncmp(line, "--", 2) || line[0] == '\\')
            continue;
        size_t n = strlen(line);
        if (len + n + 1 > cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        memcpy(out + len, line, n + 1);
        len += n;
    }
    assert_int_equal(pclose(p), 0);
    return out;
}

/* The first line where a and b differ, for the failure message. */
static void assert_same_schema(const char *a, const char *b)
{
    int line = 1;
    const char *pa = a, *pb = b;
    while (*pa && *pa == *pb) {
        if (*pa == '\n')
            line++;
        pa++;
        pb++;
    }
    if (*pa || *pb) {
        char la[200], lb[200];
        snprintf(la, sizeof(la), "%.*s", (int)strcspn(pa, "\n"), pa);
        snprintf(lb, sizeof(lb), "%.*s", (int)strcspn(pb, "\n"), pb);
        fail_msg("schemas differ at line %d: upgraded '%s', new '%s'", line, la, lb);
    }
}

static void test_a_version_18_database_upgrades_to_a_new_ones_schema(void **state)
{
    (void)state;
    struct harness_db old_db, new_db;
    harness_db_create(&old_db, "upgrade_old");
    harness_db_create(&new_db, "upgrade_new");
    PGconn *c = harness_pg(old_db.url);
    build_old_database(c);
    add_rows(c);
    /* What only the old layout had: the desk's renamed wrappers. */
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM pg_proc WHERE proname IN "
                                        "('intake_desk_action', 'intake_desk_streams')"),
                     2);

    char out[4096];
    assert_int_equal(harness_migrate(old_db.url, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "recorded as applied"));
    assert_int_equal(harness_migrate(new_db.url, out, sizeof(out)), 0);

    char *upgraded = schema_of(old_db.url), *fresh = schema_of(new_db.url);
    assert_true(strlen(fresh) > 10000);
    assert_same_schema(upgraded, fresh);
    free(upgraded);
    free(fresh);

    /* The rows are all there, and the old history of versions too. */
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM tickets t JOIN customers cu "
                                        "ON cu.id = t.customer_id JOIN messages m "
                                        "ON m.ticket_id = t.id WHERE m.body LIKE 'Where is%'"),
                     3);
    /* The 17 old versions, and every migration of the new layout (the baseline adopted). */
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM schema_migrations"),
                     17 + (long)gw_n_migrations);
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM pg_proc WHERE proname IN "
                                        "('intake_desk_action', 'intake_desk_streams')"),
                     0);

    /* A gateway serves it: the next contact's ticket follows the old ones. */
    struct harness_gateway gw;
    harness_gateway_start(&gw, old_db.url, NULL);
    char *ticket = harness_post_new_contact(&gw, "{\"external_id\":\"after-upgrade\","
                                                 "\"customer\":{\"email\":\"old1@example.com\"},"
                                                 "\"body\":\"Another question\"}");
    assert_string_equal(ticket, "SR-000004");
    free(ticket);
    assert_int_equal(harness_gateway_stop(&gw), 0);
    PQfinish(c);
    harness_db_drop(&old_db);
    harness_db_drop(&new_db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_version_18_database_upgrades_to_a_new_ones_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
