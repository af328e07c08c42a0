/*
 * A gateway killed in the middle of an outbox pass sends again only what it
 * had not written down as sent: each delivery to the outside world is
 * recorded before the next one starts. Found by the fault suite
 * (tests/faults): a kill -9 under load repeated every acknowledgement its
 * pass had sent, up to 32 mails, because a pass wrote its outcomes once at
 * its end. Here a pass holds three acknowledgements; the receiver answers
 * the first and hangs on the second; the gateway is killed; the next
 * gateway must send the second and third, never the first again. And a
 * delivery's record survives a PostgreSQL crash just after it.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "sink.h"

/* Slow retries (the dead receiver is not tried again by itself), a 5 s lease. */
#define CONFIG "{\"outbox\":{\"backoff_seconds\":300,\"poll_ms\":100,\"lease_seconds\":5}}"

static void post(const struct harness_gateway *gw, int i, const char *callback)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"crash-%d\",\"customer\":{\"email\":\"c%d@example.cn\"},"
             "\"body\":\"order %d\",\"callback_url\":\"%s\"}",
             i, i, i, callback);
    free(harness_post_new_contact(gw, json));
}

/* The outbox row a request the sink received was for (its Idempotency-Key), or -1. */
static long row_of(struct sink *s, int i)
{
    pthread_mutex_lock(&s->lock);
    const char *h = s->headers[i] ? strstr(s->headers[i], "Idempotency-Key: outbox-") : NULL;
    long id = h ? strtol(h + strlen("Idempotency-Key: outbox-"), NULL, 10) : -1;
    pthread_mutex_unlock(&s->lock);
    return id;
}

static void test_killed_mid_pass_repeats_no_recorded_delivery(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "outbox_crash");
    assert_int_equal(harness_migrate(db.url, NULL, 0), 0);
    PGconn *pg = harness_pg(db.url);

    /* Three acknowledgements due at once: registered while their receiver was unreachable. */
    struct harness_gateway gw;
    harness_gateway_start_config(&gw, db.url, CONFIG, NULL);
    char dead[64];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/cb", harness_free_port());
    for (int i = 0; i < 3; i++)
        post(&gw, i, dead);
    assert_int_equal(harness_pg_wait(pg,
                                     "SELECT count(*) FROM outbox WHERE kind = 'ack' "
                                     "AND status = 'pending' AND attempts = 1",
                                     3),
                     3);
    assert_int_equal(harness_gateway_stop(&gw), 0);

    const int statuses[] = {200, SINK_HOLD};
    struct sink sink;
    sink_start(&sink, statuses, 2);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE outbox SET next_attempt_at = now(), payload = jsonb_set(payload, "
             "'{reply_handle}', to_jsonb('http://127.0.0.1:%d/cb'::text)) WHERE kind = 'ack'",
             sink.port);
    harness_pg_exec(pg, sql);

    /* One pass claims all three: the first is answered, the second hangs. */
    harness_gateway_start_config(&gw, db.url, CONFIG, NULL);
    assert_int_equal(sink_wait(&sink, 2, 15000), 2);
    long first = row_of(&sink, 0);
    assert_true(first > 0);
    /* Written down as sent while the pass still holds the other two. */
    assert_int_equal(harness_pg_longf(pg,
                                      "SELECT count(*) FROM outbox WHERE id = %ld AND "
                                      "status = 'sent'",
                                      first),
                     1);
    kill(gw.pid, SIGKILL);
    waitpid(gw.pid, NULL, 0);

    /* The next gateway takes the other two when their lease runs out. */
    harness_gateway_start_config(&gw, db.url, CONFIG, NULL);
    assert_int_equal(harness_pg_wait(pg, "SELECT count(*) FROM outbox WHERE status = 'sent'", 3),
                     3);
    assert_int_equal(sink_wait(&sink, 4, 5000), 4);
    usleep(500 * 1000); /* a repeat of the first would come now */
    int repeats = 0;
    for (int i = 1; i < sink.count && i < SINK_MAX; i++)
        repeats += row_of(&sink, i) == first;
    assert_int_equal(repeats, 0);
    assert_int_equal(sink.count, 4); /* first, second (hung), second, third */

    assert_int_equal(harness_gateway_stop(&gw), 0);
    sink_stop(&sink);
    PQfinish(pg);
    harness_db_drop(&db);
}

/* pg_start, or pg_ctl's immediate stop ("crash"), on the test's own cluster (scripts/lib.sh). */
static void cluster(const char *dir, int port, const char *verb)
{
    char cmd[512];
    if (!strcmp(verb, "start"))
        /* The WAL writer asleep for 10 s and no background writer: a commit that did not
         * wait for the disk is still only in PostgreSQL's memory when it crashes. */
        snprintf(cmd, sizeof(cmd),
                 "pg_start %s %d fsync=off wal_writer_delay=10000 bgwriter_lru_maxpages=0", dir,
                 port);
    else
        snprintf(cmd, sizeof(cmd), "pg_run $(pg_bin)/pg_ctl -D %s/data -m immediate -w stop", dir);
    assert_int_equal(harness_lib_sh(cmd), 0);
}

/*
 * A delivery's 'sent' survives a PostgreSQL crash right after it: the
 * dispatcher's other writes do not wait for the disk, and when this one did
 * not either, the crash-restart made the row due again and the receiver got
 * it twice (the fault suite's pg_crash scenario).
 */
static char crash_dir[128];

/* The cluster goes also when an assertion ended the test early. */
static int remove_cluster(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "pg_stop %s; rm -rf %s", crash_dir, crash_dir);
    return harness_lib_sh(cmd);
}

static void test_sent_survives_database_crash(void **state)
{
    (void)state;
    char *dir = crash_dir, server[128];
    int port = harness_free_port();
    snprintf(crash_dir, sizeof(crash_dir), "/tmp/intake-pg-outbox-crash-%d", (int)getpid());
    snprintf(server, sizeof(server), "postgresql://postgres@127.0.0.1:%d/postgres", port);
    cluster(dir, port, "start");
    struct harness_db db;
    harness_db_create_on(&db, server, "outbox_crash");
    assert_int_equal(harness_migrate(db.url, NULL, 0), 0);

    struct sink sink;
    sink_start(&sink, NULL, 0);
    char callback[64];
    snprintf(callback, sizeof(callback), "http://127.0.0.1:%d/cb", sink.port);
    struct harness_gateway gw;
    harness_gateway_start_config(&gw, db.url, CONFIG, NULL);
    post(&gw, 9, callback);
    assert_int_equal(sink_wait(&sink, 1, 15000), 1);
    PGconn *pg = harness_pg(db.url);
    assert_int_equal(harness_pg_wait(pg, "SELECT count(*) FROM outbox WHERE status = 'sent'", 1),
                     1);
    PQfinish(pg);
    assert_int_equal(harness_gateway_stop(&gw), 0);

    cluster(dir, port, "crash");
    cluster(dir, port, "start");
    pg = harness_pg(db.url);
    harness_pg_text_is(pg, "SELECT status FROM outbox WHERE kind = 'ack'", "sent");
    PQfinish(pg);
    sink_stop(&sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_mid_pass_repeats_no_recorded_delivery),
        cmocka_unit_test_teardown(test_sent_survives_database_crash, remove_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
