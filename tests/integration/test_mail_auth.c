/*
 * `intake mail-auth` against the loopback stand-in's device-code and token
 * endpoints (RFC 8628): the code and URL are shown, polling waits while the
 * sign-in is pending and five seconds longer after slow_down, the refresh
 * token lands in a 0600 file (or on standard output with --print) and never
 * on standard error; a declined or expired sign-in stores nothing and exits
 * with its own status; bad arguments exit 64.
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
#include <jansson.h>

#include "harness.h"
#include "oauth_env.h"

struct outcome {
    int status;
    char out[4096], err[4096];
};

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs intake mail-auth with args; stdout and stderr kept apart. */
static void mail_auth(struct oauth_standin *o, const char *args, struct outcome *r)
{
    char out[200], err[200], cmd[1500];
    snprintf(out, sizeof(out), "%s/stdout", o->dir);
    snprintf(err, sizeof(err), "%s/stderr", o->dir);
    snprintf(cmd, sizeof(cmd), "%s mail-auth %s >%s 2>%s </dev/null", INTAKE_BINARY, args, out,
             err);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
}

static void test_device_flow_with_slow_down(void **state)
{
    (void)state;
    struct oauth_standin o;
    oauth_standin_start(&o);
    oauth_standin_control(&o, "device=pending,slow_down,ok");
    char file[200], args[600];
    snprintf(file, sizeof(file), "%s/token", o.dir);
    snprintf(args, sizeof(args),
             "--provider microsoft --tenant contoso --client-id client-1 --authority %s --out %s",
             o.base, file);
    struct outcome r;
    mail_auth(&o, args, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "https://login.example/device"));
    assert_non_null(strstr(r.err, "WDJB-MJHT"));
    assert_null(strstr(r.err, OAUTH_REFRESH));
    assert_string_equal(r.out, "");
    char stored[200];
    slurp(file, stored, sizeof(stored));
    assert_string_equal(stored, OAUTH_REFRESH "\n");
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Polled every second (the interval asked for), then 1 + 5 s after slow_down. */
    char *stats = oauth_standin_stats(&o);
    json_t *doc = json_loads(stats, 0, NULL);
    free(stats);
    json_t *gaps = json_object_get(doc, "device_poll_gaps");
    assert_int_equal(json_array_size(gaps), 2);
    assert_true(json_real_value(json_array_get(gaps, 0)) >= 0.9);
    assert_true(json_real_value(json_array_get(gaps, 0)) < 3);
    assert_true(json_real_value(json_array_get(gaps, 1)) >= 5.9);
    json_decref(doc);
    oauth_standin_stop(&o);
}

static void test_declined_expired_and_print(void **state)
{
    (void)state;
    struct oauth_standin o;
    oauth_standin_start(&o);
    char file[200], args[600];
    snprintf(file, sizeof(file), "%s/token", o.dir);

    /* Declined: nothing stored. */
    oauth_standin_control(&o, "device=denied");
    snprintf(args, sizeof(args), "--provider google --client-id client-1 --authority %s --out %s",
             o.base, file);
    struct outcome r;
    mail_auth(&o, args, &r);
    assert_int_equal(r.status, 77);
    assert_non_null(strstr(r.err, "declined"));
    assert_int_equal(access(file, F_OK), -1);

    /* Expired before sign-in. */
    oauth_standin_control(&o, "device=expired");
    mail_auth(&o, args, &r);
    assert_int_equal(r.status, 75);
    assert_non_null(strstr(r.err, "expired"));
    assert_int_equal(access(file, F_OK), -1);

    /* --print: the token alone on standard output. */
    oauth_standin_control(&o, "device=ok");
    snprintf(args, sizeof(args), "--provider google --client-id client-1 --authority %s --print",
             o.base);
    mail_auth(&o, args, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, OAUTH_REFRESH "\n");
    assert_null(strstr(r.err, OAUTH_REFRESH));
    oauth_standin_stop(&o);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct oauth_standin o = {.dir = "/tmp/intake-mail-auth-XXXXXX"};
    assert_non_null(mkdtemp(o.dir));
    struct outcome r;
    mail_auth(&o, "--provider microsoft --print", &r);
    assert_int_equal(r.status, 64);
    assert_non_null(strstr(r.err, "--client-id"));
    mail_auth(&o, "--provider yahoo --client-id c --print", &r);
    assert_int_equal(r.status, 64);
    assert_non_null(strstr(r.err, "provider"));
    mail_auth(&o, "--provider google --client-id c", &r);
    assert_int_equal(r.status, 64);
    /* A refresh token never travels in clear text off this machine. */
    mail_auth(&o, "--provider google --client-id c --authority http://login.example --print", &r);
    assert_int_equal(r.status, 64);
    assert_non_null(strstr(r.err, "https://"));
    mail_auth(&o, "--provider custom --client-id c --token-url https://t.example/token --print",
              &r);
    assert_int_equal(r.status, 64);
    assert_non_null(strstr(r.err, "--device-url"));
    oauth_standin_stop(&o); /* no stand-in runs: this removes the folder */
}

/* check-config takes "refresh_token_file", "client_secret_env" for places, not secrets. */
static void test_check_config_names_places_not_secrets(void **state)
{
    (void)state;
    char path[] = "/tmp/intake-oauth-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *cfg =
        "{\"smtp\": {\"url\": \"smtp://127.0.0.1:25\", \"user\": \"help@example.com\", "
        "\"auth\": \"xoauth2\", \"oauth\": {\"provider\": \"google\", \"client_id\": \"c\", "
        "\"client_secret_env\": \"S\", \"refresh_token_file\": \"/etc/intake/t\"}}}";
    assert_int_equal(write(fd, cfg, strlen(cfg)), (ssize_t)strlen(cfg));
    close(fd);
    chmod(path, 0644);
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd),
             "INTAKE_API_TOKEN=test-token-0123456789abcdef %s --config %s check-config 2>&1",
             INTAKE_BINARY, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(WEXITSTATUS(pclose(p)), 0);
    assert_non_null(strstr(out, "configuration OK"));
    assert_null(strstr(out, "holds secrets"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_flow_with_slow_down),
        cmocka_unit_test(test_declined_expired_and_print),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_check_config_names_places_not_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
