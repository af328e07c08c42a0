/*
 * Logs an operator can use (STYLE.md rule 7). A database that is away is
 * said once when it goes and once when it is back, however many contacts,
 * readiness probes, retries and threads run into it meanwhile; the server
 * closing our connections counts as its going away. The server's notices
 * come through our logger as one line each, with the SQLSTATE and the
 * primary text and never libpq's raw text or a detail that may quote data.
 * A listen port that is taken makes `intake serve` exit non-zero saying so.
 * Each request's lines name its id, which the answer's X-Request-Id gives.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

extern char **environ;

/* Posts n contacts tagged tag; each must be answered with status. */
static void post_contacts(const struct harness_gateway *gw, const char *tag, int n, long status)
{
    for (int i = 0; i < n; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"external_id\":\"%s-%d\",\"customer\":{\"email\":\"ops%d@logs.example\"},"
                 "\"body\":\"Hello\"}",
                 tag, i, i);
        struct harness_response r;
        harness_post_contact(gw, json, &r);
        if (r.status != status)
            fail_msg("contact %s-%d: expected %ld, got %ld: %s", tag, i, status, r.status, r.body);
        harness_response_free(&r);
    }
}

static long get_status(const struct harness_gateway *gw, const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "%s%s", gw->base, path);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    long status = r.status;
    harness_response_free(&r);
    return status;
}

/* Waits up to 10 s for a line of path containing needle; returns how many there are. */
static int wait_for_line(const char *path, const char *needle)
{
    int n = 0;
    for (int i = 0; i < 100 && !(n = harness_count_lines(path, needle)); i++)
        usleep(100 * 1000);
    return n;
}

/* Lets connections to db in, or keeps every new one out (the ones open stay). */
static void allow_connections(const struct harness_db *db, int allow)
{
    const char *server = getenv("INTAKE_TEST_PG");
    if (!server)
        fail_msg("INTAKE_TEST_PG is not set: run the suite through scripts/test");
    PGconn *admin = harness_pg(server);
    char sql[160];
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS %s", db->name,
             allow ? "true" : "false");
    harness_pg_exec(admin, sql);
    PQfinish(admin);
}

static void test_a_database_down_is_logged_once(void **state)
{
    (void)state;
    char dead[160];
    harness_unreachable_db_url(dead, sizeof(dead));
    struct harness_gateway gw;
    harness_gateway_start(&gw, dead, NULL);
    post_contacts(&gw, "down", 12, 503);
    for (int i = 0; i < 5; i++)
        assert_int_equal(get_status(&gw, "/readyz"), 503);
    /* Meanwhile the listener and the outbox dispatcher retry on their own, every half second. */
    usleep(1500 * 1000);
    assert_int_equal(harness_gateway_stop(&gw), 0);
    assert_int_equal(harness_count_lines(gw.log_path, "warn database: unreachable ("), 1);
    assert_int_equal(harness_count_lines(gw.log_path, "database:"), 1);
}

static void test_a_database_away_and_back_is_logged_once_each(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "oplogs_back");
    assert_int_equal(harness_migrate(db.url, NULL, 0), 0);
    allow_connections(&db, 0);
    struct harness_gateway gw;
    harness_gateway_start(&gw, db.url, NULL);
    post_contacts(&gw, "away", 12, 503);
    assert_int_equal(get_status(&gw, "/readyz"), 503);

    allow_connections(&db, 1);
    /* A connect that began before fails before any that begins now can succeed. */
    usleep(300 * 1000);
    post_contacts(&gw, "back", 3, 201);
    assert_int_equal(get_status(&gw, "/readyz"), 200);
    assert_int_equal(wait_for_line(gw.log_path, "info database: reachable again ("), 1);
    assert_int_equal(harness_gateway_stop(&gw), 0);
    assert_int_equal(harness_count_lines(gw.log_path, "warn database: unreachable ("), 1);
    assert_int_equal(harness_count_lines(gw.log_path, "not currently accepting connections"), 1);
    assert_int_equal(harness_count_lines(gw.log_path, "database:"), 2);
    harness_db_drop(&db);
}

static void test_server_notices_are_logged_lines(void **state)
{
    struct harness_env *env = *state;
    harness_pg_exec(env->pg,
                    "CREATE FUNCTION oplogs_notice() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "RAISE WARNING 'oplogs warning' USING DETAIL = 'oplogs@private.example'; "
                    "RAISE NOTICE 'oplogs notice'; RETURN NEW; END $$");
    harness_pg_exec(env->pg, "CREATE TRIGGER oplogs_notice AFTER INSERT ON tickets "
                             "FOR EACH ROW EXECUTE FUNCTION oplogs_notice()");
    post_contacts(&env->gw, "notice", 1, 201);
    harness_pg_exec(env->pg, "DROP TRIGGER oplogs_notice ON tickets");
    const char *log = env->gw.log_path;
    assert_int_equal(harness_count_lines(log, "warn database: WARNING from the server "
                                              "(intake-register, sqlstate 01000): oplogs warning"),
                     1);
    assert_int_equal(harness_count_lines(log, "info database: NOTICE from the server "
                                              "(intake-register, sqlstate 00000): oplogs notice"),
                     1);
    /* Not libpq's own "SEVERITY:  text" on stderr, nor the detail. */
    assert_int_equal(harness_count_lines(log, "WARNING:  "), 0);
    assert_int_equal(harness_count_lines(log, "NOTICE:  "), 0);
    assert_int_equal(harness_count_lines(log, "private.example"), 0);
}

static void test_a_closed_connection_is_the_database_going_away(void **state)
{
    struct harness_env *env = *state;
    const char *listener = "FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = 'intake-listen'";
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) %s", listener);
    assert_int_equal(harness_pg_wait(env->pg, sql, 1), 1);
    harness_pg_longf(env->pg, "SELECT count(pg_terminate_backend(pid)) %s", listener);
    const char *log = env->gw.log_path;
    assert_int_equal(wait_for_line(log, "info database: reachable again ("), 1);
    assert_int_equal(harness_count_lines(log, "warn database: unreachable (intake-listen): the "
                                              "server closed the connection (sqlstate 57P01: "),
                     1);
    assert_int_equal(harness_count_lines(log, "FATAL:  "), 0);
}

/* Runs `intake serve` on 127.0.0.1:port, logging to log_path; returns its exit status. */
static int serve_exit_status(int port, const char *db_url, const char *log_path)
{
    char listen[64], db[600];
    snprintf(listen, sizeof(listen), "INTAKE_LISTEN=127.0.0.1:%d", port);
    snprintf(db, sizeof(db), "INTAKE_DATABASE_URL=%s", db_url);
    char *ours[] = {listen, db, (char *)"INTAKE_API_TOKEN=" HARNESS_TOKEN,
                    (char *)"INTAKE_CONFIG="};
    size_t n_ours = sizeof(ours) / sizeof(ours[0]), n = 0;
    while (environ[n])
        n++;
    /* Ours first: getenv takes the first of a name. */
    char **envp = calloc(n_ours + n + 1, sizeof(*envp));
    assert_non_null(envp);
    memcpy(envp, ours, sizeof(ours));
    memcpy(envp + n_ours, environ, n * sizeof(*envp));
    posix_spawn_file_actions_t io;
    posix_spawn_file_actions_init(&io);
    posix_spawn_file_actions_addopen(&io, 2, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&io, 2, 1);
    char *argv[] = {(char *)INTAKE_BINARY, (char *)"serve", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, INTAKE_BINARY, &io, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&io);
    free(envp);
    assert_int_equal(rc, 0);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 200 && (done = waitpid(pid, &status, WNOHANG)) != pid; i++)
        usleep(50 * 1000);
    if (done != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("intake serve on a taken port is still running; see %s", log_path);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_a_taken_port_is_said_plainly(void **state)
{
    struct harness_env *env = *state;
    char log[128], said[128];
    snprintf(log, sizeof(log), "/tmp/intake-test-%d-taken.log", (int)getpid());
    assert_int_equal(serve_exit_status(env->gw.port, env->db.url, log), EX_UNAVAILABLE);
    snprintf(said, sizeof(said),
             "error server: cannot listen on 127.0.0.1:%d: address already in use", env->gw.port);
    assert_int_equal(harness_count_lines(log, said), 1);
    assert_int_equal(harness_count_lines(log, "no libev event loop"), 0);
    unlink(log);
    assert_int_equal(get_status(&env->gw, "/healthz"), 200); /* the first one serves on */
}

/* POSTs a contact with request_header (NULL: none) as X-Request-Id; the id the answer gives. */
static void post_with_request_id(const struct harness_gateway *gw, const char *tag,
                                 const char *request_header, char *answered, size_t cap)
{
    char url[128], body[256], given[1200];
    snprintf(url, sizeof(url), "%s/v1/contacts", gw->base);
    snprintf(body, sizeof(body),
             "{\"external_id\":\"%s\",\"customer\":{\"email\":\"%s@logs.example\"},"
             "\"body\":\"Hello\"}",
             tag, tag);
    snprintf(given, sizeof(given), "X-Request-Id: %s", request_header ? request_header : "");
    const char *headers[] = {"Authorization: Bearer " HARNESS_TOKEN,
                             "Content-Type: application/json", request_header ? given : NULL, NULL};
    struct harness_response r;
    harness_http_headers("POST", url, headers, body, strlen(body), &r);
    if (r.status != 201)
        fail_msg("contact %s: %ld %s", tag, r.status, r.body);
    snprintf(answered, cap, "%s", r.request_id);
    harness_response_free(&r);
}

static bool made_here(const char *id)
{
    return strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16;
}

/*
 * Each request has an id: the client's X-Request-Id when it is short and
 * safe, else one of ours, answered in X-Request-Id and named on the lines
 * written for it, the worker's line about its contact included, in logfmt
 * and in JSON. An id that could forge a field or is 1 KiB long is replaced.
 */
static void test_request_ids_name_the_lines(void **state)
{
    struct harness_env *env = *state;
    static const char *const formats[] = {"keyvalue", "json"};
    for (int f = 0; f < 2; f++) {
        char config[128], tag[32], id[80];
        snprintf(config, sizeof(config), "{\"log\":{\"format\":\"%s\"}}", formats[f]);
        struct harness_gateway gw;
        harness_gateway_start_config(&gw, env->db.url, config, NULL);

        snprintf(tag, sizeof(tag), "reqid-%s-given", formats[f]);
        post_with_request_id(&gw, tag, "lb-7f3a.9_Q", id, sizeof(id));
        assert_string_equal(id, "lb-7f3a.9_Q");
        snprintf(tag, sizeof(tag), "reqid-%s-none", formats[f]);
        char own[80];
        post_with_request_id(&gw, tag, NULL, own, sizeof(own));
        assert_true(made_here(own));
        char forged[80], huge[1100], replaced[80];
        snprintf(tag, sizeof(tag), "reqid-%s-forged", formats[f]);
        post_with_request_id(&gw, tag, "x\" request=FORGED level=error", forged, sizeof(forged));
        assert_true(made_here(forged));
        memset(huge, 'Z', 1024);
        huge[1024] = '\0';
        snprintf(tag, sizeof(tag), "reqid-%s-huge", formats[f]);
        post_with_request_id(&gw, tag, huge, replaced, sizeof(replaced));
        assert_true(made_here(replaced));
        assert_string_not_equal(own, forged);
        assert_int_equal(harness_gateway_stop(&gw), 0);

        /* The contact's line (written by the worker that registered it) names its request. */
        const char *ids[] = {"lb-7f3a.9_Q", own, forged, replaced};
        for (int i = 0; i < 4; i++) {
            char needle[128];
            if (f == 0)
                snprintf(needle, sizeof(needle), "event=contact.registered request=%s ", ids[i]);
            else
                snprintf(needle, sizeof(needle),
                         "\"event\":\"contact.registered\",\"request\":\"%s\"", ids[i]);
            if (harness_count_lines(gw.log_path, needle) != 1)
                fail_msg("%s: no line %s in %s", formats[f], needle, gw.log_path);
        }
        assert_int_equal(harness_count_lines(gw.log_path, "FORGED"), 0);
        assert_int_equal(harness_count_lines(gw.log_path, "ZZZZZZZZ"), 0);
        unlink(gw.log_path);
    }
}

/*
 * The raw answer head to a WebSocket handshake on the chat path, sent by
 * hand so that the test sees the 101's own headers (malloc'd); request_id
 * NULL sends no X-Request-Id.
 */
static char *chat_handshake(int port, const char *request_id)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[1024], id[160] = "";
    if (request_id)
        snprintf(id, sizeof(id), "X-Request-Id: %s\r\n", request_id);
    int n = snprintf(req, sizeof(req),
                     "GET /v1/chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: intake-chat.v1\r\n"
                     "Origin: http://shop.example\r\n%s\r\n",
                     port, id);
    assert_int_equal(write(fd, req, (size_t)n), n);
    char *head = calloc(1, 4096);
    size_t got = 0;
    while (got < 4095 && !strstr(head, "\r\n\r\n")) {
        ssize_t r = read(fd, head + got, 4095 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return head;
}

/* The value of the answer head's X-Request-Id (any case) into out; false when there is none. */
static bool answered_request_id(const char *head, char *out, size_t cap)
{
    const char *h = strcasestr(head, "\r\nX-Request-Id:");
    if (!h)
        return false;
    h += strlen("\r\nX-Request-Id:");
    h += strspn(h, " ");
    snprintf(out, cap, "%.*s", (int)strcspn(h, "\r\n"), h);
    return true;
}

/*
 * The chat's WebSocket handshake has a request id as every HTTP request
 * does: the client's when it is safe, else one of ours, in the 101's
 * X-Request-Id.
 */
static void test_websocket_handshake_request_id(void **state)
{
    struct harness_env *env = *state;
    struct harness_gateway gw;
    harness_gateway_start_config(
        &gw, env->db.url,
        "{\"channels\":{\"chat\":{\"allowed_origins\":[\"http://shop.example\"]}}}", NULL);
    char id[80];
    char *head = chat_handshake(gw.port, "chat-lb-42");
    if (strncmp(head, "HTTP/1.1 101", 12))
        fail_msg("no 101 to the handshake: %s", head);
    assert_true(answered_request_id(head, id, sizeof(id)));
    assert_string_equal(id, "chat-lb-42");
    free(head);
    head = chat_handshake(gw.port, NULL);
    assert_true(answered_request_id(head, id, sizeof(id)));
    assert_true(made_here(id));
    free(head);
    head = chat_handshake(gw.port, "x\" request=FORGED");
    assert_true(answered_request_id(head, id, sizeof(id)));
    assert_true(made_here(id));
    free(head);
    assert_int_equal(harness_gateway_stop(&gw), 0);
    assert_int_equal(harness_count_lines(gw.log_path, "FORGED"), 0);
    unlink(gw.log_path);
}

static int setup(void **state)
{
    static struct harness_env env;
    *state = &env;
    return harness_env_setup(&env, "oplogs", NULL);
}

static int teardown(void **state)
{
    return harness_env_teardown(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_database_down_is_logged_once),
        cmocka_unit_test(test_a_database_away_and_back_is_logged_once_each),
        cmocka_unit_test(test_server_notices_are_logged_lines),
        cmocka_unit_test(test_a_closed_connection_is_the_database_going_away),
        cmocka_unit_test(test_a_taken_port_is_said_plainly),
        cmocka_unit_test(test_request_ids_name_the_lines),
        cmocka_unit_test(test_websocket_handshake_request_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
