/*
 * The mail import tests' shared setup and their way of running
 * `intake import-mail` (import_env.h): through the shell with the database
 * URL in the environment and no config file, as an operator would.
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

#include <cmocka.h>

#include "import_env.h"

int import_env_start(struct import_env *env, const char *test_name)
{
    harness_db_create(&env->db, test_name);
    char out[4096];
    if (harness_migrate(env->db.url, out, sizeof(out)) != 0) {
        fprintf(stderr, "migrate failed: %s\n", out);
        return -1;
    }
    env->pg = harness_pg(env->db.url);
    snprintf(env->dir, sizeof(env->dir), "/tmp/intake-import-XXXXXX");
    return mkdtemp(env->dir) ? 0 : -1;
}

int import_env_stop(struct import_env *env)
{
    PQfinish(env->pg);
    harness_db_drop(&env->db);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env->dir);
    return system(cmd) == 0 ? 0 : -1;
}

int import_env_run_on(const char *url, char *out, size_t cap, const char *fmt, va_list ap)
{
    char args[1024], cmd[2048];
    vsnprintf(args, sizeof(args), fmt, ap);
    snprintf(cmd, sizeof(cmd), "INTAKE_DATABASE_URL='%s' INTAKE_CONFIG= %s import-mail %s 2>&1",
             url, INTAKE_BINARY, args);
    return harness_shell(cmd, out, cap);
}

int import_env_run(const struct import_env *env, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = import_env_run_on(env->db.url, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

void import_env_write(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

void import_env_maildir_file(const struct import_env *env, const char *folder, const char *name,
                             const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/maildir/%s", env->dir, folder);
    mkdir(path, 0700);
    if (!text)
        return;
    snprintf(path, sizeof(path), "%s/maildir/%s/%s", env->dir, folder, name);
    import_env_write(path, text, strlen(text));
}

void import_env_expect(const char *out, const char *needle)
{
    if (!strstr(out, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, out);
}
