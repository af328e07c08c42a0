/*
 * SIGTERM while contacts are in flight: the gateway keeps serving until the
 * ones it already read are committed and answered, then exits 0. The
 * database is held back with a table lock so the contacts are provably in
 * flight when the signal arrives.
 */
#include <errno.h>
#include <pthread.h>
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "harness.h"

#define IN_FLIGHT 12

struct shot {
    const struct harness_gateway *gw;
    int i;
    struct harness_response r;
};

static void *fire(void *arg)
{
    struct shot *s = arg;
    char json[256];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"drain-%d\",\"customer\":{\"email\":\"d%d@example.com\"},"
             "\"body\":\"in flight\"}",
             s->i, s->i);
    harness_post_contact(s->gw, json, &s->r);
    return NULL;
}

static long in_flight(const struct harness_gateway *gw)
{
    return (long)harness_metric(gw, "intake_jobs_in_flight");
}

/* Holds registration back: a transaction that locks messages until COMMIT. */
static PGconn *hold_messages_table(struct harness_env *env)
{
    PGconn *blocker = harness_pg(env->db.url);
    harness_pg_exec(blocker, "BEGIN");
    harness_pg_exec(blocker, "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE");
    return blocker;
}

static void test_sigterm_drains_in_flight_contacts(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "drain", NULL), 0);
    struct harness_gateway *gw = &env.gw;
    PGconn *blocker = hold_messages_table(&env);

    struct shot shots[IN_FLIGHT];
    pthread_t th[IN_FLIGHT];
    for (int i = 0; i < IN_FLIGHT; i++) {
        memset(&shots[i], 0, sizeof(shots[i]));
        shots[i].gw = gw;
        shots[i].i = i;
        pthread_create(&th[i], NULL, fire, &shots[i]);
    }
    long n = 0;
    for (int tries = 0; tries < 200 && n != IN_FLIGHT; tries++) {
        n = in_flight(gw);
        usleep(20 * 1000);
    }
    assert_int_equal(n, IN_FLIGHT);

    kill(gw->pid, SIGTERM);
    usleep(300 * 1000);
    /* Still running: it waits for the held-back commits. */
    int status;
    assert_int_equal(waitpid(gw->pid, &status, WNOHANG), 0);
    harness_pg_exec(blocker, "COMMIT");

    for (int i = 0; i < IN_FLIGHT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(shots[i].r.status, 201);
        harness_response_free(&shots[i].r);
    }
    /* The gateway exits 0 once drained; what it answered 201 is stored. */
    assert_int_equal(harness_gateway_stop(gw), 0);
    assert_int_equal(harness_pg_long(blocker, "SELECT count(*) FROM messages WHERE "
                                              "idempotency_key LIKE 'api:drain-%'"),
                     IN_FLIGHT);
    PQfinish(blocker);
    harness_env_teardown(&env);
}

/* A loopback TCP connection to port, or -1 (errno says why). */
static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Sends req and reads one whole response (headers and Content-Length body) into buf. */
static void exchange(int fd, const char *req, char *buf, size_t cap)
{
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len - 1);
        assert_true(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "content-length:");
        if (end && cl && len >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
            return;
    }
}

/*
 * SIGTERM stops accepting at once (a new connection is refused, not left in
 * the listen backlog to be reset at the exit), and a request that arrives on
 * a keep-alive connection while the gateway drains is answered 503 with
 * Retry-After and Connection: close, and the connection then closed cleanly.
 */
static void test_sigterm_refuses_new_connections_and_closes_kept_ones(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "drain_conn", NULL), 0);
    struct harness_gateway *gw = &env.gw;
    int kept = connect_to(gw->port);
    assert_true(kept >= 0);
    char buf[4096];
    exchange(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof(buf));
    assert_non_null(strstr(buf, "200"));

    /* One contact held in flight keeps the gateway draining. */
    PGconn *blocker = hold_messages_table(&env);
    struct shot shot = {.gw = gw, .i = 900};
    pthread_t th;
    pthread_create(&th, NULL, fire, &shot);
    for (int tries = 0; tries < 200 && in_flight(gw) != 1; tries++)
        usleep(20 * 1000);
    kill(gw->pid, SIGTERM);
    usleep(300 * 1000);

    errno = 0;
    assert_int_equal(connect_to(gw->port), -1);
    assert_int_equal(errno, ECONNREFUSED);

    static const char body[] = "{\"external_id\":\"late\",\"customer\":{\"email\":"
                               "\"late@example.com\"},\"body\":\"after the signal\"}";
    char req[512];
    snprintf(req, sizeof(req),
             "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             HARNESS_TOKEN, strlen(body), body);
    exchange(kept, req, buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 503"));
    assert_non_null(strcasestr(buf, "retry-after:"));
    assert_non_null(strcasestr(buf, "connection: close"));
    /* Closed by the gateway, in order: end of stream, not a reset. */
    char rest[64];
    assert_int_equal(read(kept, rest, sizeof(rest)), 0);
    close(kept);

    harness_pg_exec(blocker, "COMMIT");
    pthread_join(th, NULL);
    assert_int_equal(shot.r.status, 201);
    harness_response_free(&shot.r);
    assert_int_equal(harness_gateway_stop(gw), 0);
    PQfinish(blocker);
    harness_env_teardown(&env);
}

/*
 * A client that hangs up while its contact is being committed: the contact is
 * still stored (a retry will be told "duplicate"), the orphaned request is
 * freed (ASan checks at exit), and the gateway keeps serving.
 */
static void test_client_gone_before_commit(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "orphan", NULL), 0);
    struct harness_gateway *gw = &env.gw;
    PGconn *blocker = hold_messages_table(&env);

    const char *body = "{\"external_id\":\"gone-1\",\"customer\":{\"email\":\"g@example.com\"},"
                       "\"body\":\"hello?\"}";
    char req[1024];
    snprintf(req, sizeof(req),
             "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             HARNESS_TOKEN, strlen(body), body);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)gw->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_true(send(fd, req, strlen(req), 0) > 0);
    long n = 0;
    for (int tries = 0; tries < 200 && n != 1; tries++) {
        n = in_flight(gw);
        usleep(20 * 1000);
    }
    assert_int_equal(n, 1);
    close(fd);
    usleep(100 * 1000);
    harness_pg_exec(blocker, "COMMIT");
    for (int tries = 0; tries < 200 && n != 0; tries++) {
        n = in_flight(gw);
        usleep(20 * 1000);
    }
    assert_int_equal(n, 0);
    assert_int_equal(harness_pg_long(blocker, "SELECT count(*) FROM messages WHERE "
                                              "idempotency_key = 'api:gone-1'"),
                     1);
    /* The sender's retry learns it was stored. */
    struct harness_response r;
    harness_post_contact(gw, body, &r);
    assert_int_equal(r.status, 200);
    assert_true(harness_json_bool(r.body, "duplicate"));
    harness_response_free(&r);
    PQfinish(blocker);
    assert_int_equal(harness_env_teardown(&env), 0);
}

/* A full queue answers 503 + Retry-After at once instead of queueing without bound. */
static void test_full_queue_is_503(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(
        harness_env_setup(&env, "queue_full",
                          "{\"database\":{\"workers\":1,\"batch_max\":1,\"queue_max\":1}}"),
        0);
    PGconn *blocker = hold_messages_table(&env);
    struct shot shots[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&shots[i], 0, sizeof(shots[i]));
        shots[i].gw = &env.gw;
        shots[i].i = 100 + i;
        pthread_create(&th[i], NULL, fire, &shots[i]);
        usleep(100 * 1000); /* one in the worker, one queued, the rest refused */
    }
    usleep(200 * 1000);
    harness_pg_exec(blocker, "COMMIT");
    int created = 0, refused = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (shots[i].r.status == 201)
            created++;
        else if (shots[i].r.status == 503 && atoi(shots[i].r.retry_after) >= 1)
            refused++;
        harness_response_free(&shots[i].r);
    }
    assert_int_equal(created, 2);
    assert_int_equal(refused, 2);
    /* Exactly what was acknowledged is stored. */
    assert_int_equal(harness_pg_long(blocker, "SELECT count(*) FROM messages"), 2);
    PQfinish(blocker);
    assert_int_equal(harness_env_teardown(&env), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_drains_in_flight_contacts),
        cmocka_unit_test(test_sigterm_refuses_new_connections_and_closes_kept_ones),
        cmocka_unit_test(test_client_gone_before_commit),
        cmocka_unit_test(test_full_queue_is_503),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
