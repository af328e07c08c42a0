/*
 * Acknowledgements sent from an account that takes only OAuth2 tokens: an
 * SMTP server offering XOAUTH2/OAUTHBEARER alone, checking each token at the
 * loopback stand-in's introspection endpoint. The ack is delivered with an
 * access token got from a refresh token in a file and a client secret from
 * the environment; the provider rotates refresh tokens (as Microsoft does)
 * and each new one is written back to the file, 0600; a token the server
 * stops taking is replaced once and the next ack goes out; a refused
 * recipient is kept for retry with the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "oauth_env.h"

static void post_mail(struct harness_env *env, const char *from, const char *id)
{
    char raw[400], url[128];
    snprintf(raw, sizeof(raw),
             "From: %s\r\nSubject: broken printer\r\nMessage-ID: <%s@example.com>\r\n\r\n"
             "it prints nothing\r\n",
             from, id);
    snprintf(url, sizeof(url), "%s/v1/email/inbound", env->gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", raw, strlen(raw), &r);
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
}

/* The refresh token file's first line, and that its mode is 0600. */
static void file_holds(const char *path, const char *want)
{
    char got[128] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof(got), f));
    fclose(f);
    got[strcspn(got, "\n")] = '\0';
    assert_string_equal(got, want);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_ack_over_smtp_with_xoauth2(void **state)
{
    (void)state;
    struct oauth_standin standin;
    oauth_standin_start(&standin);
    oauth_standin_control(&standin, "rotate=1&secret=secret-1");
    struct harness_smtp smtp;
    oauth_smtp_start(&smtp, &standin);
    setenv("INTAKE_TEST_SMTP_SECRET", "secret-1", 1); /* the gateway inherits it */
    char token_file[200];
    snprintf(token_file, sizeof(token_file), "%s/refresh-token", standin.dir);
    FILE *f = fopen(token_file, "w");
    assert_non_null(f);
    fputs(OAUTH_REFRESH "\n", f);
    fclose(f);
    char cfg[1200];
    snprintf(cfg, sizeof(cfg),
             "{\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"no\",\"user\":\"" OAUTH_USER
             "\",\"auth\":\"xoauth2\",\"oauth\":{\"provider\":\"google\",\"authority\":\"%s\","
             "\"client_id\":\"client-1\",\"client_secret_env\":\"INTAKE_TEST_SMTP_SECRET\","
             "\"refresh_token_file\":\"%s\"}},"
             "\"outbox\":{\"backoff_seconds\":1,\"poll_ms\":100},"
             "\"channels\":{\"email\":{\"from_address\":\"help@desk.example\"}}}",
             smtp.port, standin.base, token_file);
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "oauth_smtp", cfg), 0);

    post_mail(&env, "customer@example.com", "smtp-1");
    assert_int_equal(harness_smtp_wait(&smtp, 1, 15000), 1);
    char *ack = harness_smtp_message(&smtp, 0);
    assert_non_null(strstr(ack, "[SR-"));
    free(ack);
    assert_int_equal(oauth_standin_stat(&standin, "refreshes_ok"), 1);
    file_holds(token_file, "rt-rot-1");

    /* The server stops taking the token: one new token, and the ack goes out. */
    oauth_standin_control(&standin, "expire_access=1");
    post_mail(&env, "other@example.com", "smtp-2");
    assert_int_equal(harness_smtp_wait(&smtp, 2, 15000), 2);
    /* Refreshed with the rotated token (the first one is no good any more). */
    assert_int_equal(oauth_standin_stat(&standin, "refreshes_ok"), 2);
    file_holds(token_file, "rt-rot-2");

    /* A refused recipient: kept for retry, with the step that failed. */
    post_mail(&env, "nobody@refused.example", "smtp-3");
    assert_int_equal(harness_pg_wait(env.pg,
                                     "SELECT count(*) FROM outbox WHERE kind = 'ack' AND "
                                     "last_error LIKE 'recipient refused%550%'",
                                     1),
                     1);
    harness_pg_text_is(env.pg,
                       "SELECT status::text FROM outbox WHERE kind = 'ack' AND "
                       "payload->>'reply_handle' = 'nobody@refused.example'",
                       "pending");
    assert_int_equal(harness_count_lines(env.gw.log_path, "rt-"), 0);
    assert_int_equal(harness_count_lines(env.gw.log_path, "secret-1"), 0);
    assert_int_equal(harness_count_lines(env.gw.log_path, "at-"), 0);
    assert_int_equal(harness_env_teardown(&env), 0);
    harness_smtp_stop(&smtp);
    oauth_standin_stop(&standin);
    unsetenv("INTAKE_TEST_SMTP_SECRET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_over_smtp_with_xoauth2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
