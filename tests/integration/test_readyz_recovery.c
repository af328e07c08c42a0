/*
 * The database goes away and comes back. On a cluster of its own (so other
 * tests keep theirs), this test sends contacts before, during and after an
 * outage and checks: readyz follows the database, every contact is either
 * acknowledged with a 2xx or told to retry with 503 + Retry-After, a retry of
 * every refused contact succeeds once the database is back, and every
 * acknowledged contact is in the database exactly once: none lost. The outbox
 * dispatcher reconnects and goes on delivering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define CONTACTS 60

struct fixture {
    char dir[256];
    char server[256];
    char callback[96]; /* nobody listens there: every acknowledgement is retried */
    struct harness_db db;
    struct harness_gateway gw;
};

static int cluster(struct fixture *f, const char *verb)
{
    char cmd[512];
    int port = atoi(strrchr(f->server, ':') + 1);
    if (!strcmp(verb, "start"))
        snprintf(cmd, sizeof(cmd), "pg_start %s %d fsync=off", f->dir, port);
    else
        snprintf(cmd, sizeof(cmd), "pg_stop %s", f->dir);
    return harness_lib_sh(cmd);
}

static int setup(void **state)
{
    static struct fixture f;
    /* Under /tmp: the "postgres" user may not reach the checkout (see scripts/lib.sh). */
    snprintf(f.dir, sizeof(f.dir), "/tmp/intake-pg-readyz-%d", (int)getpid());
    snprintf(f.server, sizeof(f.server), "postgresql://postgres@127.0.0.1:%d/postgres",
             harness_free_port());
    snprintf(f.callback, sizeof(f.callback), "http://127.0.0.1:%d/ack", harness_free_port());
    if (cluster(&f, "start") != 0)
        return -1;
    harness_db_create_on(&f.db, f.server, "readyz");
    if (harness_migrate(f.db.url, NULL, 0) != 0)
        return -1;
    harness_gateway_start(&f.gw, f.db.url, NULL);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = harness_gateway_stop(&f->gw);
    cluster(f, "stop");
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    harness_lib_sh(cmd);
    return rc == 0 ? 0 : -1;
}

static long readyz(struct fixture *f)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/readyz", f->gw.base);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    long st = r.status;
    harness_response_free(&r);
    return st;
}

/* Sends contact i; returns the status. A 503 must carry Retry-After. */
static long send_contact(struct fixture *f, int i)
{
    char json[384];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"outage-%d\",\"customer\":{\"email\":\"c%d@example.com\"},"
             "\"body\":\"contact number %d\",\"callback_url\":\"%s\"}",
             i, i % 7, i, f->callback);
    struct harness_response r;
    harness_post_contact(&f->gw, json, &r);
    long st = r.status;
    if (st == 503)
        assert_true(atoi(r.retry_after) >= 1);
    else if (st != 201 && st != 200)
        fail_msg("contact %d: unexpected %ld %s", i, st, r.body);
    harness_response_free(&r);
    return st;
}

static void test_outage_loses_nothing(void **state)
{
    struct fixture *f = *state;
    long status[CONTACTS];
    assert_int_equal(readyz(f), 200);
    for (int i = 0; i < CONTACTS / 3; i++)
        status[i] = send_contact(f, i);

    assert_int_equal(cluster(f, "stop"), 0);
    assert_int_equal(readyz(f), 503);
    int refused = 0;
    for (int i = CONTACTS / 3; i < 2 * CONTACTS / 3; i++) {
        status[i] = send_contact(f, i);
        refused += status[i] == 503;
    }
    assert_int_equal(refused, CONTACTS / 3); /* nothing can be accepted without a database */

    assert_int_equal(cluster(f, "start"), 0);
    int ready = 0;
    for (int tries = 0; tries < 100 && !ready; tries++) {
        ready = readyz(f) == 200;
        if (!ready)
            usleep(100 * 1000);
    }
    assert_true(ready);
    for (int i = 2 * CONTACTS / 3; i < CONTACTS; i++)
        status[i] = send_contact(f, i);

    /* The senders that were told to retry do so now; all must get in. */
    for (int i = 0; i < CONTACTS; i++)
        if (status[i] == 503)
            status[i] = send_contact(f, i);
    PGconn *pg = harness_pg(f->db.url);
    for (int i = 0; i < CONTACTS; i++) {
        assert_true(status[i] == 201 || status[i] == 200);
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM messages WHERE idempotency_key = 'api:outage-%d'", i);
        assert_int_equal(harness_pg_long(pg, sql), 1);
    }
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM messages"), CONTACTS);

    /*
     * The dispatcher found its way back too (a new connection, its statements
     * prepared again): every agent notification is published and every
     * acknowledgement, those of contacts sent after the outage included, was
     * claimed and its outcome recorded.
     */
    assert_true(harness_pg_long(pg, "SELECT count(*) FROM outbox WHERE kind = 'ack'") > 0);
    const char *unhandled = "SELECT count(*) FROM outbox WHERE kind = 'agent_notify' "
                            "OR attempts = 0 OR status = 'sending'";
    long left = -1;
    for (int tries = 0; tries < 100 && left != 0; tries++) {
        left = harness_pg_long(pg, unhandled);
        if (left)
            usleep(100 * 1000);
    }
    assert_int_equal(left, 0);
    PQfinish(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outage_loses_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
