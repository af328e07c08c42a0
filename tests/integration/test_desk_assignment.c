/*
 * The desk end to end, where a new ticket goes: to the online agent with
 * the fewest open tickets (round robin among equals) within capacity, or it
 * waits in its queue until someone comes online or frees a slot; no double
 * assignment when contacts arrive at once; and the queue's webhook, signed
 * with X-Intake-Signature (checked with tests/support/signers.c) and
 * retried until delivered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk_env.h"
#include "signers.h"

static void test_assignment_follows_presence_load_and_capacity(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_assign", NULL);
    char ann[64], bob[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "2", ann, sizeof(ann));
    desk_env_add_agent(&f, "Bob", "bob@desk.test", "agent", "technical", "2", bob, sizeof(bob));

    /* Nobody online: the ticket waits in its queue. */
    char *t1 = desk_env_contact(&f, "a1", "c1@x.test", "the app crashes");
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets WHERE assignee_id IS NULL"), 1);

    /* Ann comes online: the waiting ticket is hers, pushed on her stream. */
    struct ws_client *sa = desk_env_stream(&f, ann, 0, NULL);
    desk_env_expect_event(sa, "ticket.assigned", t1);
    assert_int_equal(
        harness_pg_longf(f.pg,
                         "SELECT count(*) FROM tickets t JOIN agents a ON a.id = t.assignee_id "
                         "WHERE a.name = 'Ann' AND t.number = '%s'",
                         t1),
        1);

    /* Bob online too: the next goes to the one with fewer open tickets (Bob). */
    struct ws_client *sb = desk_env_stream(&f, bob, 0, NULL);
    char *t2 = desk_env_contact(&f, "a2", "c2@x.test", "the app crashes again");
    desk_env_expect_event(sb, "ticket.assigned", t2);
    /* Equal load (1 each): round robin, least recently assigned first (Ann). */
    char *t3 = desk_env_contact(&f, "a3", "c3@x.test", "crash on start");
    desk_env_expect_event(sa, "ticket.assigned", t3);
    char *t4 = desk_env_contact(&f, "a4", "c4@x.test", "crash on exit");
    desk_env_expect_event(sb, "ticket.assigned", t4);
    /* Both at capacity (2): the fifth waits. */
    char *t5 = desk_env_contact(&f, "a5", "c5@x.test", "crash when printing");
    assert_int_equal(
        harness_pg_longf(
            f.pg, "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id IS NULL", t5),
        1);

    /* Ann resolves one: capacity frees and the waiting ticket is hers. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t1);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    desk_env_expect_event(sa, "ticket.assigned", t5);

    /* Away: Bob gets nothing new; Ann's load is full again, so the next waits. */
    assert_true(ws_send(sb, "{\"type\":\"presence\",\"presence\":\"away\"}"));
    char *p = ws_recv_type(sb, "presence", DESK_WAIT_MS);
    assert_non_null(p);
    assert_non_null(strstr(p, "\"presence\":\"away\""));
    free(p);
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t2);
    assert_int_equal(desk_env_status(&f, bob, "POST", path, "{\"status\":\"closed\"}"), 200);
    char *t6 = desk_env_contact(&f, "a6", "c6@x.test", "crash in settings");
    assert_int_equal(
        harness_pg_longf(
            f.pg, "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id IS NULL", t6),
        1);
    /* Back online: the waiting ticket is handed to Bob. */
    assert_true(ws_send(sb, "{\"type\":\"presence\",\"presence\":\"online\"}"));
    desk_env_expect_event(sb, "ticket.assigned", t6);

    /* The stream's close takes the agent offline. */
    ws_free(sa);
    assert_int_equal(
        harness_pg_wait(
            f.pg, "SELECT count(*) FROM agents WHERE name = 'Ann' AND presence = 'offline'", 1),
        1);
    /* A gateway that shuts down closes its streams (1001) and takes their agents offline. */
    assert_int_equal(harness_gateway_stop(&f.gw), 0);
    assert_int_equal(ws_wait_close(sb, DESK_WAIT_MS, NULL, 0), 1001);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE presence = 'offline'"), 2);
    ws_free(sb);
    free(t1), free(t2), free(t3), free(t4), free(t5), free(t6);
    desk_env_stop(&f);
}

struct burst {
    const struct desk_env *f;
    int first, n;
};

static void *send_burst(void *arg)
{
    struct burst *b = arg;
    for (int i = b->first; i < b->first + b->n; i++) {
        char id[32], email[64];
        snprintf(id, sizeof(id), "burst-%d", i);
        snprintf(email, sizeof(email), "b%d@x.test", i);
        free(desk_env_contact(b->f, id, email, "crash report"));
    }
    return NULL;
}

static void test_concurrent_contacts_are_assigned_once_within_capacity(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_concurrent", NULL);
    char tok[3][64];
    const char *names[] = {"A1", "A2", "A3"};
    for (int i = 0; i < 3; i++) {
        char email[32];
        snprintf(email, sizeof(email), "a%d@desk.test", i);
        desk_env_add_agent(&f, names[i], email, "agent", "technical", "5", tok[i], sizeof(tok[i]));
    }
    struct ws_client *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = desk_env_stream(&f, tok[i], 0, NULL);
    /* 24 contacts from 4 threads for 15 slots. */
    pthread_t th[4];
    struct burst b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (struct burst){&f, i * 6, 6};
        pthread_create(&th[i], NULL, send_burst, &b[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM tickets"), 24);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets WHERE assignee_id IS NOT NULL"), 15);
    assert_int_equal(harness_pg_longf(f.pg,
                                      "SELECT count(*) FROM (SELECT assignee_id FROM tickets WHERE "
                                      "assignee_id IS NOT NULL GROUP BY 1 HAVING count(*) <> 5) x"),
                     0);
    /* Each assigned ticket was assigned once (one timeline event each). */
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM ticket_events WHERE kind = 'created' AND "
                               "detail->>'assignee' IS NOT NULL"),
        15);
    /* And every assignment reached its agent's stream, once. */
    assert_int_equal(
        harness_pg_wait(f.pg,
                        "SELECT count(*) FROM session_events e JOIN live_sessions s ON "
                        "s.id = e.session_id WHERE s.channel = 'desk' AND "
                        "e.event->>'type' = 'ticket.assigned'",
                        15),
        15);
    for (int i = 0; i < 3; i++)
        ws_free(s[i]);
    desk_env_stop(&f);
}

static void test_queue_webhook_is_signed(void **state)
{
    (void)state;
    struct desk_env f;
    struct sink hook;
    const int ok[] = {500, 200};
    sink_start(&hook, ok, 2); /* the first delivery fails: it is retried */
    char extra[256];
    snprintf(extra, sizeof(extra),
             "\"queues\":{\"technical\":{\"webhook_url\":\"http://127.0.0.1:%d/hook\","
             "\"webhook_secret\":\"queue-secret-0123456789\"}}",
             hook.port);
    desk_env_start(&f, "desk_webhook", extra);
    char *t = desk_env_contact(&f, "w1", "c@x.test", "the app crashes");
    free(desk_env_contact(&f, "w2", "d@x.test", "where is my order")); /* orders: no webhook */
    assert_int_equal(sink_wait(&hook, 2, DESK_WAIT_MS), 2);
    assert_int_equal(sink_wait(&hook, 3, 1500), 2); /* once delivered, not again */
    pthread_mutex_lock(&hook.lock);
    char *headers = strdup(hook.headers[1]), *body = strdup(hook.bodies[1]);
    pthread_mutex_unlock(&hook.lock);
    assert_non_null(strstr(body, t));
    assert_non_null(strstr(body, "\"type\": \"ticket.created\""));
    /* The header, whole: the timestamp it names and the one HMAC of it and the body. */
    const char *sig = strstr(headers, "X-Intake-Signature: t=");
    assert_non_null(sig);
    sig += strlen("X-Intake-Signature: ");
    char expected[SIGNER_INTAKE_LEN];
    signer_intake("queue-secret-0123456789", atol(sig + 2), body, strlen(body), expected);
    assert_int_equal(strcspn(sig, "\r\n"), strlen(expected));
    assert_memory_equal(sig, expected, strlen(expected));
    free(headers), free(body), free(t);
    desk_env_stop(&f);
    sink_stop(&hook);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignment_follows_presence_load_and_capacity),
        cmocka_unit_test(test_concurrent_contacts_are_assigned_once_within_capacity),
        cmocka_unit_test(test_queue_webhook_is_signed),
    };
    /* Before any thread: libcurl's global set-up is not thread-safe. */
    curl_global_init(CURL_GLOBAL_ALL);
    int failed = cmocka_run_group_tests_name("desk assignment", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
