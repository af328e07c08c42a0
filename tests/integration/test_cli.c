/*
 * The `intake` command itself: check-config lists every problem of a broken
 * file at once and exits 78 (EX_CONFIG); serve refuses to start without a
 * token; unknown commands are usage errors; --version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_schema.h"
#include "harness.h"

/* Runs the binary with args through the shell; returns the exit code, output in out. */
static int run(const char *env_and_args, char *out, size_t out_len)
{
    char cmd[1024];
    /* The suite's environment must not leak into what the command sees. */
    snprintf(cmd, sizeof(cmd), "env -u INTAKE_CONFIG -u INTAKE_API_TOKEN %s 2>&1", env_and_args);
    return harness_shell(cmd, out, out_len);
}

static void test_check_config_reports_every_problem(void **state)
{
    (void)state;
    char path[] = "/tmp/intake-cli-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *bad = "{\"listne\": \"x\", \"listen\": \"nowhere\", \"database\": {\"workers\": "
                      "\"two\"}, \"sla\": {\"urgent\": {\"first_response_minutes\": 0}}}";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    char cmd[256], out[8192];
    snprintf(cmd, sizeof(cmd), "%s --config %s check-config", INTAKE_BINARY, path);
    assert_int_equal(run(cmd, out, sizeof(out)), 78);
    assert_non_null(strstr(out, "listne: unknown setting"));
    assert_non_null(strstr(out, "listen: \"nowhere\" is not host:port"));
    assert_non_null(strstr(out, "database.workers: must be an integer"));
    assert_non_null(strstr(out, "sla.urgent.first_response_minutes"));
    unlink(path);
}

static void test_check_config_accepts_defaults_with_token(void **state)
{
    (void)state;
    char cmd[256], out[4096];
    snprintf(cmd, sizeof(cmd), "INTAKE_API_TOKEN=0123456789abcdef0123 %s check-config",
             INTAKE_BINARY);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "configuration OK"));
}

static void test_serve_without_token_refuses(void **state)
{
    (void)state;
    char cmd[256], out[4096];
    snprintf(cmd, sizeof(cmd), "INTAKE_LISTEN=127.0.0.1:%d %s serve", harness_free_port(),
             INTAKE_BINARY);
    assert_int_equal(run(cmd, out, sizeof(out)), 78);
    assert_non_null(strstr(out, "INTAKE_API_TOKEN"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    char cmd[256], out[4096];
    snprintf(cmd, sizeof(cmd), "%s frobnicate", INTAKE_BINARY);
    assert_int_equal(run(cmd, out, sizeof(out)), 64);
    assert_non_null(strstr(out, "unknown command"));
    snprintf(cmd, sizeof(cmd), "%s", INTAKE_BINARY);
    assert_int_equal(run(cmd, out, sizeof(out)), 64);
}

/* --version names the release and the schema; /metrics says the same in intake_build_info. */
static void test_version_and_build_info(void **state)
{
    (void)state;
    char out[256], cmd[512], want[64];
    snprintf(cmd, sizeof(cmd), "%s --version", INTAKE_BINARY);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "(database schema %d)\n", gw_db_latest_version());
    assert_true(!strncmp(out, "intake ", 7));
    assert_non_null(strstr(out, want));
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "build_info", NULL), 0);
    char name[128];
    /* The version up to its first space, as --version printed it. */
    snprintf(name, sizeof(name), "intake_build_info{version=\"%.*s\",schema=\"%d\"}",
             (int)strcspn(out + 7, " "), out + 7, gw_db_latest_version());
    assert_true(harness_metric(&env.gw, name) == 1);
    assert_int_equal(harness_env_teardown(&env), 0);
}

/* A configuration file with secrets that others can read: check-config warns, naming no secret. */
static void test_check_config_warns_of_readable_secrets(void **state)
{
    (void)state;
    char path[] = "/tmp/intake-secrets-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *cfg = "{\"api_token\": \"secret-token-0123456789\", "
                      "\"smtp\": {\"password\": \"mail-pass-42\"}}";
    assert_int_equal(write(fd, cfg, strlen(cfg)), (ssize_t)strlen(cfg));
    close(fd);
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "%s --config %s check-config", INTAKE_BINARY, path);
    chmod(path, 0644);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "holds secrets and others can read it (mode 644)"));
    assert_null(strstr(out, "secret-token-0123456789"));
    assert_null(strstr(out, "mail-pass-42"));
    chmod(path, 0600);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    assert_null(strstr(out, "holds secrets"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config_reports_every_problem),
        cmocka_unit_test(test_check_config_accepts_defaults_with_token),
        cmocka_unit_test(test_serve_without_token_refuses),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_version_and_build_info),
        cmocka_unit_test(test_check_config_warns_of_readable_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
