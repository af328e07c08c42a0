/*
 * Idempotency under concurrency: the same external_id fired from many
 * threads at once makes one ticket, one message and one acknowledgement,
 * and every caller learns the same ticket number. Distinct first contacts
 * from one new address at once make one customer. A contact the database
 * rejects fails alone among parallel ones.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PARALLEL 32

struct shot {
    const struct harness_gateway *gw;
    char json[512];
    pthread_barrier_t *start;
    struct harness_response r;
};

static int setup(void **state)
{
    static struct harness_env env;
    *state = &env;
    return harness_env_setup(&env, "idempotency",
                             "{\"database\":{\"workers\":4,\"batch_max\":8,\"queue_max\":1000}}");
}

static int teardown(void **state)
{
    return harness_env_teardown(*state);
}

static void *fire(void *arg)
{
    struct shot *s = arg;
    pthread_barrier_wait(s->start);
    harness_post_contact(s->gw, s->json, &s->r);
    return NULL;
}

/* Fires shots[0..n) at once and waits for all. */
static void fire_all(struct shot *shots, size_t n)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    pthread_t th[PARALLEL];
    for (size_t i = 0; i < n; i++) {
        shots[i].start = &start;
        pthread_create(&th[i], NULL, fire, &shots[i]);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
}

static void test_parallel_duplicates_make_one_ticket(void **state)
{
    struct harness_env *f = *state;
    for (int round = 0; round < 5; round++) {
        struct shot shots[PARALLEL];
        memset(shots, 0, sizeof(shots));
        for (int i = 0; i < PARALLEL; i++) {
            shots[i].gw = &f->gw;
            snprintf(shots[i].json, sizeof(shots[i].json),
                     "{\"external_id\":\"dup-%d\",\"customer\":{\"email\":\"dup%d@example.com\"},"
                     "\"body\":\"the same request, delivered many times\","
                     "\"callback_url\":\"http://127.0.0.1:9/ack\"}",
                     round, round);
        }
        fire_all(shots, PARALLEL);
        int created = 0, repeated = 0;
        char *first = NULL;
        for (int i = 0; i < PARALLEL; i++) {
            if (shots[i].r.status == 201)
                created++;
            else if (shots[i].r.status == 200 && harness_json_bool(shots[i].r.body, "duplicate"))
                repeated++;
            else
                fail_msg("round %d shot %d: %ld %s", round, i, shots[i].r.status, shots[i].r.body);
            char *t = harness_json_str(shots[i].r.body, "ticket");
            assert_non_null(t);
            if (!first)
                first = t;
            else {
                assert_string_equal(first, t);
                free(t);
            }
            harness_response_free(&shots[i].r);
        }
        assert_int_equal(created, 1);
        assert_int_equal(repeated, PARALLEL - 1);
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM messages WHERE idempotency_key = 'api:dup-%d'", round);
        assert_int_equal(harness_pg_long(f->pg, sql), 1);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM tickets WHERE number = '%s'", first);
        assert_int_equal(harness_pg_long(f->pg, sql), 1);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:api:dup-%d'", round);
        assert_int_equal(harness_pg_long(f->pg, sql), 1);
        free(first);
    }
    /* Five rounds, five tickets: nothing extra was created by the losers. */
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM tickets"), 5);
}

static void test_parallel_first_contacts_make_one_customer(void **state)
{
    struct harness_env *f = *state;
    struct shot shots[PARALLEL];
    memset(shots, 0, sizeof(shots));
    for (int i = 0; i < PARALLEL; i++) {
        shots[i].gw = &f->gw;
        snprintf(shots[i].json, sizeof(shots[i].json),
                 "{\"external_id\":\"same-person-%d\",\"customer\":{\"email\":"
                 "\"Busy.Person@example.com\"},\"body\":\"question number %d\"}",
                 i, i);
    }
    fire_all(shots, PARALLEL);
    for (int i = 0; i < PARALLEL; i++) {
        assert_int_equal(shots[i].r.status, 201);
        harness_response_free(&shots[i].r);
    }
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(DISTINCT t.customer_id) FROM tickets t "
                                            "JOIN messages m ON m.ticket_id = t.id WHERE "
                                            "m.idempotency_key LIKE 'api:same-person-%'"),
                     1);
    /* No orphan customer rows were left behind by the losers of the race. */
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM customers c WHERE NOT EXISTS "
                                            "(SELECT 1 FROM customer_identities i WHERE "
                                            "i.customer_id = c.id)"),
                     0);
}

/*
 * A contact the database rejects fails alone: the batch it came in rolls back
 * and the others are registered one by one, while more batches keep coming
 * (a worker queues its next batch behind a committing one, never behind a
 * failed one). A trigger plays the bad contact.
 */
static void test_rejected_contact_fails_alone_among_parallel_ones(void **state)
{
    struct harness_env *f = *state;
    harness_pg_exec(f->pg, "CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS "
                           "$$BEGIN IF NEW.body LIKE '%POISON%' THEN RAISE EXCEPTION 'poison' "
                           "USING ERRCODE = '22023'; END IF; RETURN NEW; END$$");
    harness_pg_exec(f->pg, "CREATE TRIGGER reject_poison BEFORE INSERT ON messages FOR EACH ROW "
                           "EXECUTE FUNCTION reject_poison()");
    for (int round = 0; round < 3; round++) {
        struct shot shots[PARALLEL];
        memset(shots, 0, sizeof(shots));
        int good = 0;
        for (int i = 0; i < PARALLEL; i++) {
            good += i % 7 != 3;
            shots[i].gw = &f->gw;
            snprintf(shots[i].json, sizeof(shots[i].json),
                     "{\"external_id\":\"mixed-%d-%d\",\"customer\":{\"email\":"
                     "\"mixed%d@example.com\"},\"body\":\"%s request %d\"}",
                     round, i, i, i % 7 == 3 ? "POISON" : "a good", i);
        }
        fire_all(shots, PARALLEL);
        for (int i = 0; i < PARALLEL; i++) {
            if (i % 7 == 3)
                assert_int_equal(shots[i].r.status, 422);
            else if (shots[i].r.status != 201)
                fail_msg("round %d shot %d: %ld %s", round, i, shots[i].r.status, shots[i].r.body);
            harness_response_free(&shots[i].r);
        }
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM messages WHERE idempotency_key LIKE 'api:mixed-%d-%%'",
                 round);
        assert_int_equal(harness_pg_long(f->pg, sql), good);
    }
    harness_pg_exec(f->pg, "DROP TRIGGER reject_poison ON messages");
    harness_pg_exec(f->pg, "DROP FUNCTION reject_poison()");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_duplicates_make_one_ticket),
        cmocka_unit_test(test_parallel_first_contacts_make_one_customer),
        cmocka_unit_test(test_rejected_contact_fails_alone_among_parallel_ones),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
