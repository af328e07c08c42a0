/*
 * A mailbox that takes only OAuth2 tokens: a real dovecot accepting
 * XOAUTH2/OAUTHBEARER alone, validating each token at the loopback
 * stand-in's introspection endpoint, and the stand-in as the provider's
 * token endpoint. The gateway polls with an access token, refreshes it
 * before it expires and once more when the server refused it (sessions are
 * kicked where the test needs a new login: a session logged in stays so); a revoked
 * refresh token leaves the mail unread and is visible in one log line,
 * /readyz and /metrics until a new refresh token is put in its file; a token
 * endpoint that is down is asked with growing pauses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "oauth_env.h"

struct fixture {
    struct oauth_standin standin;
    struct harness_imap imap;
    struct harness_env env;
    char token_file[200];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void start(struct fixture *f, const char *name, const char *knobs)
{
    oauth_standin_start(&f->standin);
    if (knobs)
        oauth_standin_control(&f->standin, knobs);
    oauth_imap_start(&f->imap, &f->standin);
    snprintf(f->token_file, sizeof(f->token_file), "%s/refresh-token", f->standin.dir);
    write_file(f->token_file, OAUTH_REFRESH "\n");
    char cfg[1500];
    snprintf(cfg, sizeof(cfg),
             "{\"channels\":{\"email\":{\"imap\":{\"interval_seconds\":1,\"mailboxes\":[{"
             "\"url\":\"imap://127.0.0.1:%d/INBOX\",\"user\":\"" OAUTH_USER "\","
             "\"starttls\":\"no\",\"auth\":\"xoauth2\",\"oauth\":{\"provider\":\"microsoft\","
             "\"tenant\":\"contoso\",\"authority\":\"%s\",\"client_id\":\"client-1\","
             "\"refresh_token_file\":\"%s\"}}]}}}}",
             f->imap.port, f->standin.base, f->token_file);
    assert_int_equal(harness_env_setup(&f->env, name, cfg), 0);
}

static void stop(struct fixture *f)
{
    /* No token, refresh token or secret ever reaches the log. */
    assert_int_equal(harness_count_lines(f->env.gw.log_path, "rt-"), 0);
    assert_int_equal(harness_count_lines(f->env.gw.log_path, "at-"), 0);
    assert_int_equal(harness_env_teardown(&f->env), 0);
    harness_imap_stop(&f->imap);
    oauth_standin_stop(&f->standin);
}

static void deliver(struct fixture *f, const char *id)
{
    char raw[400];
    snprintf(raw, sizeof(raw),
             "From: customer@example.com\r\nSubject: order %s\r\nMessage-ID: <%s@example.com>\r\n"
             "\r\nwhere is my order?\r\n",
             id, id);
    harness_imap_deliver(&f->imap, raw);
}

/* Whether the message with this id is registered, waiting up to seconds. */
static bool registered(struct fixture *f, const char *id, int seconds)
{
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM messages WHERE external_ref = '%s@example.com'", id);
    for (int i = 0; i < seconds * 10; i++) {
        if (harness_pg_long(f->env.pg, sql) == 1)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

/* How many messages an IMAP SEARCH finds (looked at with the inspector's own token). */
static int count(struct fixture *f, const char *search)
{
    char *answer = oauth_imap_command(&f->imap, search);
    int n = 0;
    char *p = strstr(answer, "* SEARCH");
    for (p = p ? p + 8 : NULL; p && *p && *p != '\r' && *p != '\n'; p++)
        if (*p >= '0' && *p <= '9' && p[-1] == ' ')
            n++;
    free(answer);
    return n;
}

static char *get(struct fixture *f, const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "%s%s", f->env.gw.base, path);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    return r.body;
}

static double trouble_gauge(struct fixture *f)
{
    char name[200];
    snprintf(name, sizeof(name),
             "intake_oauth_account_trouble{account=\"mailbox imap://127.0.0.1:%d/INBOX\"}",
             f->imap.port);
    return harness_metric(&f->env.gw, name);
}

static void test_poll_refresh_and_revoke(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "oauth_imap", "lifetime=2");

    /* Connect with an access token, register, mark done. */
    deliver(&f, "first");
    assert_true(registered(&f, "first", 15));
    for (int i = 0; i < 30 && count(&f, "UID SEARCH KEYWORD $IntakeDone") < 1; i++)
        usleep(100 * 1000);
    assert_int_equal(count(&f, "UID SEARCH KEYWORD $IntakeDone"), 1);

    /* Two-second tokens: refreshed ahead of expiry, polling goes on. */
    sleep(3);
    deliver(&f, "after-expiry");
    assert_true(registered(&f, "after-expiry", 10));
    long refreshed = oauth_standin_stat(&f.standin, "refreshes_ok");
    assert_true(refreshed >= 3);

    /*
     * The server stops taking the token before its time, and the session
     * ends: the next login is refused, one new token, and on. (Tokens live
     * long from here: after a failed login dovecot delays the next one from
     * the same address, its auth penalty.)
     */
    oauth_standin_control(&f.standin, "lifetime=30&expire_access=1");
    oauth_imap_kick(&f.imap);
    deliver(&f, "refused-once");
    assert_true(registered(&f, "refused-once", 10));
    assert_true(oauth_standin_stat(&f.standin, "refreshes_ok") > refreshed);
    assert_int_equal(harness_count_lines(f.env.gw.log_path, "oauth:"), 0);

    /* Revoked: the mail stays unread and unmarked; log, /readyz, /metrics say so. */
    oauth_standin_control(&f.standin, "revoke=1&expire_access=1");
    oauth_imap_kick(&f.imap);
    deliver(&f, "while-revoked");
    /* Said once when the gateway next asks for a token (later on a loaded host: wait for it). */
    for (int i = 0; i < 150 && !harness_count_lines(f.env.gw.log_path, "refresh token refused (");
         i++)
        usleep(100 * 1000);
    sleep(1); /* a poll or two more: still nothing registered, still said once */
    assert_false(registered(&f, "while-revoked", 0));
    assert_int_equal(count(&f, "UID SEARCH UNSEEN"), 1);
    assert_int_equal(count(&f, "UID SEARCH UNKEYWORD $IntakeDone"), 1);
    assert_int_equal(
        harness_count_lines(f.env.gw.log_path, "refresh token refused (invalid_grant)"), 1);
    char *ready = get(&f, "/readyz");
    char expect[200];
    snprintf(expect, sizeof(expect),
             "mailbox imap://127.0.0.1:%d/INBOX: refresh token refused (invalid_grant)",
             f.imap.port);
    assert_non_null(strstr(ready, "\"degraded\""));
    assert_non_null(strstr(ready, expect));
    free(ready);
    assert_true(trouble_gauge(&f) == 1);
    char failures[220];
    snprintf(failures, sizeof(failures),
             "intake_oauth_refresh_failures_total{account=\"mailbox imap://127.0.0.1:%d/INBOX\","
             "reason=\"refused\"}",
             f.imap.port);
    assert_true(harness_metric(&f.env.gw, failures) >= 1);
    /* The provider's description (it may name the user) is not repeated anywhere. */
    assert_int_equal(harness_count_lines(f.env.gw.log_path, "AADSTS"), 0);

    /* A new refresh token in the file (as `intake mail-auth --out` writes it): back. */
    oauth_standin_control(&f.standin, "refresh=rt-second&revoke=0");
    write_file(f.token_file, "rt-second\n");
    assert_true(registered(&f, "while-revoked", 10));
    assert_int_equal(harness_count_lines(f.env.gw.log_path, "refresh token refused no more"), 1);
    ready = get(&f, "/readyz");
    assert_non_null(strstr(ready, "\"ready\""));
    free(ready);
    assert_true(trouble_gauge(&f) == 0);
    stop(&f);
}

static void test_token_endpoint_down_backs_off(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "oauth_down", "down=1");
    deliver(&f, "while-down");
    sleep(5);
    /* Five one-second polls; the endpoint was asked at 0, 1 and 3 s (then 7 s). */
    long asked = oauth_standin_stat(&f.standin, "token_requests");
    assert_true(asked >= 2);
    assert_true(asked <= 4);
    assert_false(registered(&f, "while-down", 0));
    assert_int_equal(count(&f, "UID SEARCH UNSEEN"), 1);
    assert_int_equal(harness_count_lines(f.env.gw.log_path, "token endpoint unreachable"), 1);
    char *ready = get(&f, "/readyz");
    assert_non_null(strstr(ready, "token endpoint unreachable (HTTP 503"));
    free(ready);
    /* Back up: the next try after the pause gets a token, and the mail. */
    oauth_standin_control(&f.standin, "down=0");
    assert_true(registered(&f, "while-down", 12));
    assert_int_equal(harness_count_lines(f.env.gw.log_path, "token endpoint unreachable no more"),
                     1);
    stop(&f);
}

/*
 * A token endpoint that answers 200 with no usable token (a sign-in page,
 * JSON cut off, an empty token, JSON that is not an object) is treated as
 * unreachable: the mail stays unread, /readyz says why without the answer's
 * text, the gateway asks again after a pause and gets the mail once the
 * endpoint answers properly.
 */
static void test_token_endpoint_garbage(void **state)
{
    (void)state;
    static const char *const kinds[] = {"html", "truncated", "empty", "array"};
    struct fixture f;
    start(&f, "oauth_garbage", "garbage=html");
    deliver(&f, "while-garbage");
    char knob[32];
    for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
        snprintf(knob, sizeof(knob), "garbage=%s", kinds[i]);
        oauth_standin_control(&f.standin, knob);
        long before = oauth_standin_stat(&f.standin, "token_requests");
        for (int t = 0; t < 100 && oauth_standin_stat(&f.standin, "token_requests") == before; t++)
            usleep(100 * 1000);
        assert_true(oauth_standin_stat(&f.standin, "token_requests") > before);
        assert_false(registered(&f, "while-garbage", 0));
    }
    assert_int_equal(count(&f, "UID SEARCH UNSEEN"), 1);
    char *ready = get(&f, "/readyz");
    assert_non_null(strstr(ready, "token endpoint unreachable (HTTP 200, no access token)"));
    assert_null(strstr(ready, "leak"));
    free(ready);
    assert_int_equal(harness_count_lines(f.env.gw.log_path, "token endpoint unreachable"), 1);
    assert_int_equal(harness_count_lines(f.env.gw.log_path, "leak"), 0);
    oauth_standin_control(&f.standin, "garbage=0");
    assert_true(registered(&f, "while-garbage", 20));
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_refresh_and_revoke),
        cmocka_unit_test(test_token_endpoint_down_backs_off),
        cmocka_unit_test(test_token_endpoint_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
