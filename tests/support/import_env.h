/*
 * What the mail import's tests (tests/integration/test_import_*.c) share: a
 * migrated database of their own, a folder for the archives they write, and
 * `intake import-mail` run as a user runs it, its output captured.
 */
#ifndef IMPORT_ENV_H
#define IMPORT_ENV_H

#include <stdarg.h>
#include <stddef.h>

#include "harness.h"

struct import_env {
    struct harness_db db;
    PGconn *pg;
    char dir[64]; /* the test's files, removed by import_env_stop */
};

/* For cmocka group setup: a database named after the test and a fresh folder; 0 on success. */
int import_env_start(struct import_env *env, const char *test_name);
/* Closes the connection, drops the database, removes the folder; 0 on success. */
int import_env_stop(struct import_env *env);

/* Runs `intake import-mail ARGS` on the database at url; exit status, stdout and stderr in out. */
__attribute__((format(printf, 4, 0))) int import_env_run_on(const char *url, char *out, size_t cap,
                                                            const char *fmt, va_list ap);
/* The same on the env's database. */
__attribute__((format(printf, 4, 5))) int import_env_run(const struct import_env *env, char *out,
                                                         size_t cap, const char *fmt, ...);

/* Writes len bytes to path (the test fails if it cannot). */
void import_env_write(const char *path, const char *data, size_t len);
/* Writes DIR/maildir/FOLDER/NAME, making FOLDER (not its parents) first; text NULL: only FOLDER. */
void import_env_maildir_file(const struct import_env *env, const char *folder, const char *name,
                             const char *text);
/* Fails the test, showing out, when needle is not in it. */
void import_env_expect(const char *out, const char *needle);

#endif
