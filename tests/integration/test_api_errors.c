/*
 * Every error the API channel promises, through the real server: the status,
 * the JSON {"error", "field"} body, and that nothing was stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

struct fixture {
    struct harness_env env;
    char url[128];
};

static int setup(void **state)
{
    static struct fixture f;
    *state = &f;
    if (harness_env_setup(&f.env, "api_errors", NULL) != 0)
        return -1;
    snprintf(f.url, sizeof(f.url), "%s/v1/contacts", f.env.gw.base);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    return harness_env_teardown(&f->env);
}

static void expect(struct fixture *f, const char *token, const char *ctype, const char *body,
                   size_t len, long status, const char *field)
{
    struct harness_response r;
    harness_http("POST", f->url, token, ctype, body, len, &r);
    if (r.status != status)
        fail_msg("expected %ld, got %ld for %.80s: %s", status, r.status, body, r.body);
    char *err = harness_json_str(r.body, "error");
    assert_non_null(err);
    assert_true(strlen(err) > 0);
    char *fld = harness_json_str(r.body, "field");
    if (field) {
        if (!fld || strcmp(fld, field))
            fail_msg("expected field %s, got %s (%s)", field, fld ? fld : "none", r.body);
    }
    free(err);
    free(fld);
    harness_response_free(&r);
}

static void bad(struct fixture *f, const char *body, const char *field)
{
    expect(f, HARNESS_TOKEN, "application/json", body, strlen(body), 400, field);
}

static void test_malformed_and_invalid_bodies_are_400(void **state)
{
    struct fixture *f = *state;
    bad(f, "{\"external_id\": \"x\",", NULL);
    bad(f, "[1,2,3]", NULL);
    bad(f, "{\"customer\":{\"email\":\"a@b.co\"},\"body\":\"hi\"}", "external_id");
    bad(f, "{\"external_id\":\"e1\",\"body\":\"hi\"}", "customer");
    bad(f, "{\"external_id\":\"e2\",\"customer\":{\"name\":\"N\"},\"body\":\"hi\"}",
        "customer.email");
    bad(f, "{\"external_id\":\"e3\",\"customer\":{\"email\":\"not-an-address\"},\"body\":\"hi\"}",
        "customer.email");
    bad(f, "{\"external_id\":\"e4\",\"customer\":{\"phone\":\"555-1234\"},\"body\":\"hi\"}",
        "customer.phone");
    bad(f, "{\"external_id\":\"e5\",\"customer\":{\"email\":\"a@b.co\"}}", "body");
    bad(f, "{\"external_id\":\"e6\",\"customer\":{\"email\":\"a@b.co\"},\"body\":42}", "body");
    bad(f,
        "{\"external_id\":\"e7\",\"customer\":{\"email\":\"a@b.co\"},\"body\":\"x\",\"sujbect\":1}",
        "sujbect");
    bad(f,
        "{\"external_id\":\"e8\",\"customer\":{\"email\":\"a@b.co\"},\"body\":\"x\","
        "\"language\":\"fr\"}",
        "language");
    bad(f,
        "{\"external_id\":\"e9\",\"customer\":{\"email\":\"a@b.co\"},\"body\":\"x\","
        "\"callback_url\":\"file:///etc/passwd\"}",
        "callback_url");
    /* Invalid UTF-8 (a lone continuation byte and an overlong slash). */
    static const char bad_utf8[] =
        "{\"external_id\":\"e10\",\"customer\":{\"email\":\"a@b.co\"},\"body\":\"\x80\xC0\xAF\"}";
    expect(f, HARNESS_TOKEN, "application/json", bad_utf8, sizeof(bad_utf8) - 1, 400, NULL);
    expect(f, HARNESS_TOKEN, "text/plain", "hello", 5, 415, NULL);
    assert_int_equal(harness_pg_long(f->env.pg, "SELECT count(*) FROM messages"), 0);
}

static void test_body_over_256_kib_is_413(void **state)
{
    struct fixture *f = *state;
    size_t n = 256 * 1024 + 100;
    char *big = malloc(n + 1);
    int head = snprintf(big, n,
                        "{\"external_id\":\"big\",\"customer\":{\"email\":\"a@b.co\"},"
                        "\"body\":\"");
    memset(big + head, 'a', n - (size_t)head - 2);
    memcpy(big + n - 2, "\"}", 2);
    big[n] = '\0';
    expect(f, HARNESS_TOKEN, "application/json", big, n, 413, NULL);
    free(big);
    assert_int_equal(harness_pg_long(f->env.pg, "SELECT count(*) FROM messages"), 0);
    /* The server is still fine afterwards. */
    struct harness_response r;
    harness_post_contact(&f->env.gw,
                         "{\"external_id\":\"after-big\",\"customer\":{\"email\":\"a@b.co\"},"
                         "\"body\":\"small\"}",
                         &r);
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
}

/* Sends raw bytes and returns the status of the answer (0: none within 5 s). */
static int raw_status(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_true(send(fd, request, strlen(request), 0) > 0);
    char buf[512] = "";
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    int status = 0;
    if (n > 12)
        sscanf(buf, "HTTP/1.1 %d", &status);
    return status;
}

static void test_chunked_body_is_411_not_a_hang(void **state)
{
    struct fixture *f = *state;
    char req[1024];
    snprintf(req, sizeof(req),
             "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             "10\r\n{\"external_id\":1\r\n0\r\n\r\n",
             HARNESS_TOKEN);
    assert_int_equal(raw_status(f->env.gw.port, req), 411);
}

static void test_tokens_401_403(void **state)
{
    struct fixture *f = *state;
    const char *body =
        "{\"external_id\":\"tok\",\"customer\":{\"email\":\"a@b.co\"},\"body\":\"x\"}";
    struct harness_response r;
    harness_http("POST", f->url, NULL, "application/json", body, strlen(body), &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www_auth, "Bearer");
    harness_response_free(&r);
    expect(f, "wrong-token-wrong-token", "application/json", body, strlen(body), 403, NULL);
    expect(f, HARNESS_TOKEN "x", "application/json", body, strlen(body), 403, NULL);
    assert_int_equal(
        harness_pg_long(f->env.pg,
                        "SELECT count(*) FROM messages WHERE idempotency_key = 'api:tok'"),
        0);
}

static void test_unknown_routes_404_405(void **state)
{
    struct fixture *f = *state;
    char url[160];
    struct harness_response r;
    snprintf(url, sizeof(url), "%s/v1/nothing-here", f->env.gw.base);
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    harness_response_free(&r);
    harness_http("GET", f->url, HARNESS_TOKEN, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    harness_response_free(&r);
}

static void test_database_down_is_503_with_retry_after(void **state)
{
    (void)state;
    struct harness_gateway gw;
    char dead[160];
    harness_unreachable_db_url(dead, sizeof(dead));
    harness_gateway_start(&gw, dead, NULL);
    struct harness_response r;
    harness_post_contact(&gw,
                         "{\"external_id\":\"down-1\",\"customer\":{\"email\":\"a@b.co\"},"
                         "\"body\":\"x\"}",
                         &r);
    assert_int_equal(r.status, 503);
    assert_true(atoi(r.retry_after) >= 1);
    char *err = harness_json_str(r.body, "error");
    assert_non_null(err);
    free(err);
    harness_response_free(&r);
    char url[128];
    snprintf(url, sizeof(url), "%s/readyz", gw.base);
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 503);
    harness_response_free(&r);
    snprintf(url, sizeof(url), "%s/healthz", gw.base);
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200); /* alive, just not ready */
    harness_response_free(&r);
    assert_int_equal(harness_gateway_stop(&gw), 0);
}

static void test_client_limits_429(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "limits",
                                       "{\"limits\":{\"requests_per_second_per_client\":1,"
                                       "\"request_burst\":3,\"auth_failures_per_minute\":2}}"),
                     0);
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/contacts", env.gw.base);
    const char *body = "{\"external_id\":\"lim\",\"customer\":{\"email\":\"a@b.co\"},"
                       "\"body\":\"x\"}";
    long statuses[5];
    struct harness_response r;
    for (int i = 0; i < 5; i++) {
        harness_http("POST", url, "wrong-token-wrong-token", "application/json", body, strlen(body),
                     &r);
        statuses[i] = r.status;
        if (r.status == 429)
            assert_true(atoi(r.retry_after) >= 1);
        harness_response_free(&r);
    }
    /* Two wrong tokens, then the address is refused even before the token is checked. */
    assert_int_equal(statuses[0], 403);
    assert_int_equal(statuses[1], 403);
    assert_int_equal(statuses[2], 429);
    /* The bucket (burst 3) was emptied by those requests too. */
    assert_int_equal(statuses[3], 429);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM messages"), 0);
    /* Health checks are never limited. */
    snprintf(url, sizeof(url), "%s/healthz", env.gw.base);
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    assert_int_equal(harness_env_teardown(&env), 0);
}

/*
 * Refused tokens from one address hold back that address's authentication
 * attempts only: customers behind the same office or carrier NAT still get
 * the chat page, the widget, the console's page.
 */
static void test_token_lockout_leaves_public_pages_up(void **state)
{
    (void)state;
    struct harness_env env;
    assert_int_equal(
        harness_env_setup(&env, "lockout", "{\"limits\":{\"auth_failures_per_minute\":2}}"), 0);
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/contacts", env.gw.base);
    const char *body = "{\"external_id\":\"lock\",\"customer\":{\"email\":\"a@b.co\"},"
                       "\"body\":\"x\"}";
    struct harness_response r;
    long last = 0;
    for (int i = 0; i < 3; i++) {
        harness_http("POST", url, "wrong-token-wrong-token", "application/json", body, strlen(body),
                     &r);
        last = r.status;
        harness_response_free(&r);
    }
    assert_int_equal(last, 429);
    /* Authentication from that address waits out the minute, a right token too. */
    harness_http("POST", url, HARNESS_TOKEN, "application/json", body, strlen(body), &r);
    assert_int_equal(r.status, 429);
    harness_response_free(&r);
    static const char *const pages[] = {"/chat/", "/chat/widget.js", "/agent/", "/healthz"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        snprintf(url, sizeof(url), "%s%s", env.gw.base, pages[i]);
        harness_http("GET", url, NULL, NULL, NULL, 0, &r);
        if (r.status != 200)
            fail_msg("%s: %ld during a lockout", pages[i], r.status);
        harness_response_free(&r);
    }
    assert_int_equal(harness_env_teardown(&env), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_and_invalid_bodies_are_400),
        cmocka_unit_test(test_body_over_256_kib_is_413),
        cmocka_unit_test(test_chunked_body_is_411_not_a_hang),
        cmocka_unit_test(test_tokens_401_403),
        cmocka_unit_test(test_unknown_routes_404_405),
        cmocka_unit_test(test_database_down_is_503_with_retry_after),
        cmocka_unit_test(test_client_limits_429),
        cmocka_unit_test(test_token_lockout_leaves_public_pages_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
