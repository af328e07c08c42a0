/*
 * The outbox dispatcher against a real receiver on loopback: an
 * acknowledgement goes to the contact's callback URL after the commit,
 * failed deliveries are retried with backoff and finally marked failed, a
 * contact without a callback is skipped, and agent notifications arrive
 * through LISTEN/NOTIFY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_outbox.h"
#include "harness.h"
#include "sink.h"

static int setup(void **state)
{
    static struct harness_env env;
    *state = &env;
    return harness_env_setup(
        &env, "outbox", "{\"outbox\":{\"backoff_seconds\":1,\"poll_ms\":100,\"max_attempts\":3}}");
}

static int teardown(void **state)
{
    return harness_env_teardown(*state);
}

/* Polls until the SQL yields expect (or 15 s pass); returns the last value. */
static long wait_for(struct harness_env *f, const char *sql, long expect)
{
    long v = -1;
    for (int i = 0; i < 150; i++) {
        v = harness_pg_long(f->pg, sql);
        if (v == expect)
            break;
        usleep(100 * 1000);
    }
    return v;
}

static char *post_ok(struct harness_env *f, const char *id, const char *callback)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"%s\",\"customer\":{\"name\":\"Zhang San\",\"email\":"
             "\"zs@example.cn\"},\"body\":\"订单还没到\"%s%s%s}",
             id, callback ? ",\"callback_url\":\"" : "", callback ? callback : "",
             callback ? "\"" : "");
    return harness_post_new_contact(&f->gw, json);
}

static void test_callback_retried_until_delivered(void **state)
{
    struct harness_env *f = *state;
    struct sink s;
    const int statuses[] = {500, 200};
    sink_start(&s, statuses, 2);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", s.port);
    char *ticket = post_ok(f, "cb-1", url);

    assert_int_equal(sink_wait(&s, 2, 15000), 2);
    assert_int_equal(wait_for(f,
                              "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:api:cb-1' AND "
                              "status = 'sent' AND attempts = 2 AND last_error IS NULL",
                              1),
                     1);
    /* Both attempts carried the same body and the same Idempotency-Key. */
    assert_non_null(strstr(s.bodies[1], ticket));
    assert_non_null(strstr(s.bodies[1], "ticket.acknowledged"));
    assert_string_equal(s.bodies[0], s.bodies[1]);
    char *id = harness_pg_text(f->pg, "SELECT 'Idempotency-Key: outbox-' || id FROM outbox "
                                      "WHERE dedupe_key = 'ack:api:cb-1'");
    assert_non_null(strcasestr(s.headers[0], id));
    assert_non_null(strcasestr(s.headers[1], id));
    /* Chinese text in, Chinese acknowledgement out. */
    assert_non_null(strstr(s.bodies[1], "工单号"));
    free(id);
    free(ticket);
    /* Sent means sent: no third delivery. */
    assert_int_equal(sink_wait(&s, 3, 1500), 2);
    sink_stop(&s);
}

static void test_unreachable_callback_fails_after_max_attempts(void **state)
{
    struct harness_env *f = *state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/nobody", harness_free_port());
    char *ticket = post_ok(f, "cb-2", url);
    assert_int_equal(wait_for(f,
                              "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:api:cb-2' AND "
                              "status = 'failed' AND attempts = 3 AND last_error <> ''",
                              1),
                     1);
    free(ticket);
}

static void test_no_callback_no_ack_row_and_agents_are_notified(void **state)
{
    struct harness_env *f = *state;
    PGconn *listener = harness_pg(f->db.url);
    harness_pg_exec(listener, "LISTEN " GW_AGENT_EVENTS_CHANNEL);
    char *ticket = post_ok(f, "cb-3", NULL);
    /* The HTTP answer was the acknowledgement: nothing else to send the caller. */
    assert_int_equal(
        harness_pg_long(f->pg, "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:api:cb-3'"), 0);
    /* Published agent notifications leave the outbox (the timeline keeps the event). */
    assert_int_equal(
        wait_for(f, "SELECT count(*) FROM outbox WHERE dedupe_key = 'agent:api:cb-3'", 0), 0);
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        int sock = PQsocket(listener);
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(sock, &rd);
        struct timeval tv = {0, 100000};
        select(sock + 1, &rd, NULL, NULL, &tv);
        PQconsumeInput(listener);
        PGnotify *n;
        while ((n = PQnotifies(listener)) != NULL) {
            if (strstr(n->extra, ticket))
                seen = 1;
            PQfreemem(n);
        }
    }
    assert_true(seen);
    PQfinish(listener);
    free(ticket);
}

/*
 * The dispatcher reaches outbox rows by key or by a queue index, never by
 * scanning the table. Its statements are prepared when it connects, and
 * PostgreSQL keeps a plan made from the table as it is then; on a new
 * database's empty outbox that plan was a scan, which went on scanning the
 * whole table on every pass as it grew (10-31 ms a pass at 7,500 rows in the
 * phone bench). Twelve deliveries, one pass each, on a fresh database; the
 * test itself never reads the outbox until the gateway has stopped.
 */
static void test_dispatcher_never_scans_the_outbox(void **state)
{
    (void)state;
    struct harness_db db;
    struct harness_gateway gw;
    struct sink s;
    const int ok[] = {200};
    sink_start(&s, ok, 1);
    harness_db_create(&db, "outbox_no_scans");
    assert_int_equal(harness_migrate(db.url, NULL, 0), 0);
    /* The migrations scan it (checks, indexes); what counts is what comes after. */
    PGconn *pg = harness_pg(db.url);
    const char *scans = "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'outbox'";
    long before = harness_pg_long(pg, scans);
    PQfinish(pg);
    harness_gateway_start_config(&gw, db.url, "{\"outbox\":{\"poll_ms\":50}}", NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", s.port);
    for (int i = 0; i < 12; i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"external_id\":\"scan-%d\",\"customer\":{\"email\":\"c%d@example.cn\"},"
                 "\"body\":\"Where is my order?\",\"callback_url\":\"%s\"}",
                 i, i, url);
        free(harness_post_new_contact(&gw, json));
        assert_int_equal(sink_wait(&s, i + 1, 15000), i + 1);
    }
    /* Its backends' statistics are flushed when they end. */
    assert_int_equal(harness_gateway_stop(&gw), 0);
    pg = harness_pg(db.url);
    assert_int_equal(harness_pg_long(pg, scans), before);
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM outbox WHERE kind = 'ack'"), 12);
    PQfinish(pg);
    harness_db_drop(&db);
    sink_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback_retried_until_delivered),
        cmocka_unit_test(test_unreachable_callback_fails_after_max_attempts),
        cmocka_unit_test(test_no_callback_no_ack_row_and_agents_are_notified),
        cmocka_unit_test(test_dispatcher_never_scans_the_outbox),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
