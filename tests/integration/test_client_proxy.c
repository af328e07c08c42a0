/*
 * Per-client limits behind a proxy (server.trusted_proxies). Through a
 * trusted peer (the test itself on 127.0.0.1, standing in for haproxy with
 * `option forwardfor`), two clients named by X-Forwarded-For are limited
 * separately: the one who guesses tokens is locked out, the other is not,
 * and a request rate is counted per client. From a peer that is not trusted
 * the header is ignored: a forged one does not escape a lockout. A chat
 * WebSocket's per-address message limit follows the same client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "ws_client.h"

/* POSTs a contact as the client named by forwarded (NULL: no header) with token; the status. */
static long post_as(const struct harness_env *env, const char *forwarded, const char *token, int n)
{
    char url[128], auth[128], xff[128], body[160];
    snprintf(url, sizeof(url), "%s/v1/contacts", env->gw.base);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    snprintf(xff, sizeof(xff), "X-Forwarded-For: %s", forwarded ? forwarded : "");
    snprintf(body, sizeof(body),
             "{\"external_id\":\"proxy-%d\",\"customer\":{\"email\":\"p%d@proxy.test\"},"
             "\"body\":\"x\"}",
             n, n);
    const char *headers[] = {auth, "Content-Type: application/json", forwarded ? xff : NULL, NULL};
    struct harness_response r;
    harness_http_headers("POST", url, headers, body, strlen(body), &r);
    long status = r.status;
    harness_response_free(&r);
    return status;
}

static void lock_out(const struct harness_env *env, const char *forwarded)
{
    long last = 0;
    for (int i = 0; i < 3; i++)
        last = post_as(env, forwarded, "wrong-token-wrong-token", 0);
    assert_int_equal(last, 429);
}

static void test_clients_behind_a_trusted_proxy_are_limited_apart(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "proxy_trusted",
                                       "{\"limits\":{\"auth_failures_per_minute\":2},"
                                       "\"server\":{\"trusted_proxies\":[\"127.0.0.1\","
                                       "\"::1\"]}}"),
                     0);
    /* A guesses; what A wrote into the header itself (left of the proxy's hop) is not believed. */
    lock_out(&env, "203.0.113.50, 198.51.100.1");
    assert_int_equal(post_as(&env, "198.51.100.1", HARNESS_TOKEN, 1), 429);
    assert_int_equal(post_as(&env, "203.0.113.50, 198.51.100.1", HARNESS_TOKEN, 1), 429);
    /* B, behind the same proxy, is not held back; nor is the proxy's own address. */
    assert_int_equal(post_as(&env, "198.51.100.2", HARNESS_TOKEN, 2), 201);
    assert_int_equal(post_as(&env, "198.51.100.1, 198.51.100.2", HARNESS_TOKEN, 3), 201);
    assert_int_equal(post_as(&env, NULL, HARNESS_TOKEN, 4), 201);
    assert_int_equal(harness_env_teardown(&env), 0);
}

static void test_request_rate_is_counted_per_forwarded_client(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "proxy_rate",
                                       "{\"limits\":{\"requests_per_second_per_client\":1,"
                                       "\"request_burst\":2},"
                                       "\"server\":{\"trusted_proxies\":[\"127.0.0.0/8\"]}}"),
                     0);
    long a[3], b[2];
    for (int i = 0; i < 3; i++)
        a[i] = post_as(&env, "198.51.100.11", HARNESS_TOKEN, 10 + i);
    for (int i = 0; i < 2; i++)
        b[i] = post_as(&env, "198.51.100.12", HARNESS_TOKEN, 20 + i);
    assert_int_equal(a[0], 201);
    assert_int_equal(a[2], 429);
    assert_int_equal(b[0], 201);
    assert_int_equal(b[1], 201);
    assert_int_equal(harness_env_teardown(&env), 0);
}

static void test_an_untrusted_peer_cannot_forge_its_way_out(void **state)
{
    (void)state;
    struct harness_env env;
    /* Trusted proxies elsewhere: the test's own address is an ordinary client. */
    assert_int_equal(harness_env_setup(&env, "proxy_untrusted",
                                       "{\"limits\":{\"auth_failures_per_minute\":2},"
                                       "\"server\":{\"trusted_proxies\":[\"10.0.0.0/8\"]}}"),
                     0);
    lock_out(&env, "198.51.100.1");
    assert_int_equal(post_as(&env, "198.51.100.99", HARNESS_TOKEN, 1), 429);
    assert_int_equal(post_as(&env, "10.1.2.3", HARNESS_TOKEN, 2), 429);
    assert_int_equal(post_as(&env, NULL, HARNESS_TOKEN, 3), 429);
    assert_int_equal(harness_env_teardown(&env), 0);
}

/* A chat customer behind the proxy: hello and n messages; counts acks and rate refusals. */
static void chat_as(const struct harness_env *env, const char *forwarded, int n, int *acked,
                    int *limited)
{
    struct ws_client *c = ws_connect_forwarded(env->gw.port, "/v1/chat", "intake-chat.v1",
                                               "http://shop.example", forwarded);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"en\"}"));
    free(ws_recv_type(c, "welcome", 5000));
    for (int i = 0; i < n; i++) {
        char msg[128];
        snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"client_id\":\"%s-%d\",\"text\":\"x\"}",
                 forwarded, i);
        assert_true(ws_send(c, msg));
    }
    *acked = *limited = 0;
    for (char *m; (m = ws_recv(c, 1500)) != NULL; free(m)) {
        *acked += strstr(m, "\"type\":\"ack\"") != NULL;
        *limited += strstr(m, "\"code\":\"rate_limited\"") != NULL;
    }
    ws_free(c);
}

static void test_chat_limits_follow_the_forwarded_client(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "proxy_chat",
                                       "{\"server\":{\"trusted_proxies\":[\"127.0.0.1\"]},"
                                       "\"channels\":{\"chat\":{\"allowed_origins\":["
                                       "\"http://shop.example\"],\"messages_per_minute\":600,"
                                       "\"messages_per_minute_per_address\":6,"
                                       "\"invalid_messages_before_close\":50}}}"),
                     0);
    int acked = 0, limited = 0;
    /* A's address has a burst of two frames: the hello and one message. */
    chat_as(&env, "198.51.100.31", 4, &acked, &limited);
    assert_int_equal(acked, 1);
    assert_int_equal(limited, 3);
    /* B, behind the same proxy, has its own. */
    chat_as(&env, "198.51.100.32", 1, &acked, &limited);
    assert_int_equal(acked, 1);
    assert_int_equal(limited, 0);
    assert_int_equal(harness_env_teardown(&env), 0);
}

static void test_a_bad_trusted_proxy_is_a_config_error(void **state)
{
    (void)state;
    char path[] = "/tmp/intake-proxy-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = "{\"server\":{\"trusted_proxies\":[\"10.0.0.0/33\",\"lb.example\"]}}";
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "INTAKE_API_TOKEN=%s %s --config %s check-config 2>&1",
             HARNESS_TOKEN, INTAKE_BINARY, path);
    FILE *p = popen(cmd, "r");
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    assert_int_equal(WEXITSTATUS(status), 78); /* EX_CONFIG */
    assert_non_null(strstr(out, "server.trusted_proxies[0]: \"10.0.0.0/33\" is not an address"));
    assert_non_null(strstr(out, "server.trusted_proxies[1]: \"lb.example\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clients_behind_a_trusted_proxy_are_limited_apart),
        cmocka_unit_test(test_request_rate_is_counted_per_forwarded_client),
        cmocka_unit_test(test_an_untrusted_peer_cannot_forge_its_way_out),
        cmocka_unit_test(test_chat_limits_follow_the_forwarded_client),
        cmocka_unit_test(test_a_bad_trusted_proxy_is_a_config_error),
    };
    return cmocka_run_group_tests_name("client limits behind a proxy", tests, NULL, NULL);
}
