/*
 * Secrets at rest (issue 24): with a configuration full of tokens and
 * passwords, nothing the product prints shows one: `intake defaults`,
 * `intake check-config` (on the file, and on broken files that put a secret
 * where the error is: a syntax error next to it, a URL with a password, a
 * secret too short, of the wrong type, under a misspelt key), a gateway's
 * /metrics, /healthz, /readyz and its log. check-config warns when others
 * can read such a file, and not when only its owner can.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* Every secret below holds this word; the outputs must not. */
#define MARK "Secret"

static const char *const secrets_json =
    "{\"api_token\":\"ApiTok-" MARK "-0001-abcdef\","
    "\"smtp\":{\"url\":\"smtp://127.0.0.1:9\",\"user\":\"smtp-user\","
    "\"password\":\"SmtpPass-" MARK "-0003\"},"
    "\"queues\":{\"general\":{\"webhook_url\":\"http://127.0.0.1:9/hook\","
    "\"webhook_secret\":\"QueueHook-" MARK "-0004\"}},"
    "\"channels\":{\"phone\":{\"twilio_auth_token\":\"Twilio-" MARK "-0005\","
    "\"cti_token\":\"CtiTok-" MARK "-0006-xyz\",\"webhook_secret\":\"PhoneHook-" MARK "-0007\","
    "\"sms\":{\"url\":\"http://127.0.0.1:9/sms\",\"from\":\"+861000000000\",\"account\":\"AC1\","
    "\"token\":\"SmsTok-" MARK "-0008\"}},"
    "\"email\":{\"imap\":{\"interval_seconds\":1,\"mailboxes\":[{\"url\":"
    "\"imap://127.0.0.1:9/INBOX\",\"user\":\"agent\",\"password\":\"ImapPass-" MARK "-0009\"}]}}}}";

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* Runs the intake command line (stdout and stderr) into out; returns its exit status. */
__attribute__((format(printf, 3, 4))) static int run(char *out, size_t cap, const char *fmt, ...)
{
    char args[512], cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd),
             "INTAKE_DATABASE_URL=postgresql://postgres:DbPass-" MARK
             "-0002@127.0.0.1:9/none %s %s 2>&1",
             INTAKE_BINARY, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void shows_no_secret(const char *what, const char *text)
{
    if (strstr(text, MARK))
        fail_msg("%s shows a secret:\n%s", what, text);
}

static void test_commands_show_no_secrets(void **state)
{
    (void)state;
    char path[] = "/tmp/intake-secrets-XXXXXX";
    close(mkstemp(path));
    char out[16384];
    write_file(path, secrets_json, 0600);
    assert_int_equal(run(out, sizeof(out), "--config %s defaults", path), 0);
    assert_non_null(strstr(out, "\"api_token\": null"));
    shows_no_secret("intake defaults", out);

    assert_int_equal(run(out, sizeof(out), "--config %s check-config", path), 0);
    assert_non_null(strstr(out, "configuration OK"));
    assert_null(strstr(out, "others can read"));
    shows_no_secret("check-config", out);

    /* Readable by others: a warning naming the file, not the secrets. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(run(out, sizeof(out), "--config %s check-config", path), 0);
    assert_non_null(strstr(out, "holds secrets and others can read it (mode 644)"));
    shows_no_secret("check-config's warning", out);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(run(out, sizeof(out), "--config %s check-config", path), 0);
    assert_non_null(strstr(out, "(mode 640)"));

    /* Broken files whose error sits on a secret. */
    static const char *const broken[] = {
        "{\"api_token\": ApiTok-" MARK "-0001-abcdef}",
        "{\"api_token\": \"ApiTok-" MARK "-0001\" \"x\"}",
        "{\"smtp\":{\"url\":\"smtp://user:SmtpUrl-" MARK "-0010@mail.example:25/x\"}}",
        "{\"queues\":{\"general\":{\"webhook_url\":\"http://127.0.0.1:9/h\","
        "\"webhook_secret\":\"Sh0rt-" MARK "\"}}}",
        "{\"smtp\":{\"password\":[\"Arr-" MARK "-0011\"]}}",
        "{\"api_tokn\":\"Typo-" MARK "-0012\"}",
        "{\"channels\":{\"phone\":{\"cti_token\":7, \"webhook_secret\":\"x-" MARK "\"}}}",
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        write_file(path, broken[i], 0600);
        int rc = run(out, sizeof(out), "--config %s check-config", path);
        if (rc != 78)
            fail_msg("broken file %zu: exit %d, not 78 (EX_CONFIG):\n%s", i, rc, out);
        assert_non_null(strstr(out, "config: "));
        shows_no_secret("check-config's error", out);
        /* serve reads the same file the same way. */
        run(out, sizeof(out), "--config %s serve", path);
        shows_no_secret("serve's error", out);
    }
    unlink(path);
}

static void test_a_gateway_shows_no_secrets(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "secrets");
    assert_int_equal(harness_migrate(db.url, NULL, 0), 0);
    struct harness_gateway gw;
    harness_gateway_start_config(&gw, db.url, secrets_json, NULL);
    static const char *const pages[] = {"/metrics", "/healthz", "/readyz"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        char url[128];
        snprintf(url, sizeof(url), "%s%s", gw.base, pages[i]);
        struct harness_response r;
        harness_http("GET", url, NULL, NULL, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        shows_no_secret(pages[i], r.body);
        harness_response_free(&r);
    }
    /* The IMAP mailbox (nobody listens) and the webhook fail meanwhile: logged, without them. */
    usleep(1500 * 1000);
    assert_int_equal(harness_gateway_stop(&gw), 0);
    assert_int_equal(harness_count_lines(gw.log_path, MARK), 0);
    assert_true(harness_count_lines(gw.log_path, "imap") > 0);
    harness_db_drop(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_show_no_secrets),
        cmocka_unit_test(test_a_gateway_shows_no_secrets),
    };
    return cmocka_run_group_tests_name("secrets", tests, NULL, NULL);
}
