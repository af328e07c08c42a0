/*
 * What integration tests share: a fresh database per test on the cluster
 * scripts/test started (INTAKE_TEST_PG), the real `intake` binary started
 * and stopped as a child process, HTTP with libcurl, and SQL with libpq.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <sys/types.h>

#define HARNESS_TOKEN "test-token-0123456789abcdef"

struct harness_db {
    char name[64];
    char url[512];
};

struct harness_gateway {
    pid_t pid;
    int port;
    char base[64]; /* http://127.0.0.1:PORT */
    char log_path[256];
};

struct harness_response {
    long status;
    char *body;           /* NUL-terminated, malloc'd */
    char retry_after[16]; /* "" when absent */
    char www_auth[64];
    char request_id[80]; /* X-Request-Id; "" when absent */
};

/* A migrated database of its own, a gateway serving it, and a connection to it. */
struct harness_env {
    struct harness_db db;
    struct harness_gateway gw;
    PGconn *pg;
};

/* For cmocka group setup/teardown: returns 0 on success like they must. */
int harness_env_setup(struct harness_env *env, const char *test_name, const char *config_json);
/* Stops the gateway (which must exit 0) and drops the database. */
int harness_env_teardown(struct harness_env *env);

/* Creates an empty database named after the test; aborts the test on failure. */
void harness_db_create(struct harness_db *db, const char *test_name);
void harness_db_drop(struct harness_db *db);
/* Same, but on any server URL (a base URL ending in a database name). */
void harness_db_create_on(struct harness_db *db, const char *server_url, const char *test_name);

/* Runs `intake migrate` against url; returns its exit status. */
int harness_migrate(const char *url, char *output, size_t output_len);

/* A free loopback TCP port. */
int harness_free_port(void);

/* A database URL on a loopback port nobody listens on: the database is down. */
void harness_unreachable_db_url(char *out, size_t cap);

/*
 * Starts `intake serve` on a free port with extra "KEY=VALUE" environment
 * entries (NULL-terminated, may be NULL); waits for /healthz.
 */
void harness_gateway_start(struct harness_gateway *gw, const char *db_url,
                           const char *const *extra_env);
/* The same with a config file. */
void harness_gateway_start_config(struct harness_gateway *gw, const char *db_url,
                                  const char *config_json, const char *const *extra_env);
/* SIGTERM, wait; returns the exit status (or 128+signal). */
int harness_gateway_stop(struct harness_gateway *gw);

/* One request; token NULL sends no Authorization. */
void harness_http(const char *method, const char *url, const char *token, const char *content_type,
                  const char *body, size_t len, struct harness_response *out);
/* The same with whole header lines ("Name: value", NULL-terminated list). */
void harness_http_headers(const char *method, const char *url, const char *const *headers,
                          const char *body, size_t len, struct harness_response *out);
void harness_response_free(struct harness_response *r);
/* A value from gw's /metrics: the number after "name " (name may carry labels); -1 if absent. */
double harness_metric(const struct harness_gateway *gw, const char *name);
/* How many lines of the file at path contain needle (a gateway's log_path, say). */
int harness_count_lines(const char *path, const char *needle);
/* POST a JSON contact to gw with the test token. */
void harness_post_contact(const struct harness_gateway *gw, const char *json,
                          struct harness_response *out);
/* The same, which must answer 201; returns the new ticket's number (malloc'd). */
char *harness_post_new_contact(const struct harness_gateway *gw, const char *json);

PGconn *harness_pg(const char *url);
/* First column of the first row as a number / a malloc'd string; aborts on SQL error. */
long harness_pg_long(PGconn *conn, const char *sql);
char *harness_pg_text(PGconn *conn, const char *sql);
/* Fails the test unless harness_pg_text gives expected. */
void harness_pg_text_is(PGconn *conn, const char *sql, const char *expected);
/* harness_pg_long with the SQL written like printf's format. */
long harness_pg_longf(PGconn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Polls the number until it is expect (or 15 s pass); returns the last value. */
long harness_pg_wait(PGconn *conn, const char *sql, long expect);
void harness_pg_exec(PGconn *conn, const char *sql);

/* A JSON string field of a JSON text, malloc'd, or NULL. */
char *harness_json_str(const char *json, const char *key);
int harness_json_bool(const char *json, const char *key);

/* A real SMTP server on loopback (Debian's aiosmtpd) storing mail in a Maildir. */
struct harness_smtp {
    pid_t pid;
    int port;
    char dir[128];
};

/* port 0: pick a free one. */
void harness_smtp_start(struct harness_smtp *smtp, int port);
/*
 * The same server insisting on STARTTLS (a self-signed certificate made for
 * 127.0.0.1, written to smtp->dir/cert.pem) and AUTH with user/password.
 */
void harness_smtp_tls_start(struct harness_smtp *smtp, const char *user, const char *password);
void harness_smtp_stop(struct harness_smtp *smtp);
/* Waits up to timeout_ms for at least n messages; returns how many arrived. */
int harness_smtp_wait(struct harness_smtp *smtp, int n, int timeout_ms);
/* The i-th message in arrival order (malloc'd), or NULL. */
char *harness_smtp_message(struct harness_smtp *smtp, int i);

/* A real IMAP server on loopback (Debian's dovecot) with one user, "agent"/"secret". */
struct harness_imap {
    int port;
    char dir[128];
};

/* port 0: pick a free one. */
void harness_imap_start(struct harness_imap *imap, int port);
/* The same, requiring STARTTLS with a certificate for 127.0.0.1 (CA: imap->dir/cert.pem). */
void harness_imap_tls_start(struct harness_imap *imap);
void harness_imap_stop(struct harness_imap *imap);
/* The same with auth_conf (auth_mechanisms and passdb lines) instead of "agent"/"secret". */
void harness_imap_start_auth(struct harness_imap *imap, const char *auth_conf);
/* fork + exec argv, output to log_path; the child is stopped at exit if still running. */
pid_t harness_spawn(char *const argv[], const char *log_path);
/* Waits until something listens on the loopback port; fails the test otherwise. */
void harness_wait_for_port(int port, const char *what);
/* Drops a message into the agent's INBOX, as a local delivery would. */
void harness_imap_deliver(struct harness_imap *imap, const char *raw);
/* The answer to one IMAP command on INBOX (e.g. "UID SEARCH ALL"), malloc'd. */
char *harness_imap_command(struct harness_imap *imap, const char *command);
/* The same logged in by SASL XOAUTH2 with an OAuth2 bearer token instead of the password. */
char *harness_imap_command_bearer(struct harness_imap *imap, const char *bearer,
                                  const char *command);

/*
 * Runs a shell command line (append 2>&1 to catch stderr too); its exit
 * status (-1 when it did not exit), its output in out when out is not NULL.
 */
int harness_shell(const char *command_line, char *out, size_t cap);

/* Runs `intake ingest-email` on the given bytes against db_url; returns its exit status. */
int harness_ingest_email(const char *db_url, const char *raw, char *output, size_t output_len);

/* A fixture file under INTAKE_FIXTURES ("api/x.json"), malloc'd, NUL-terminated. */
unsigned char *harness_read_fixture(const char *relative, size_t *len);

/* cmocka per-test setup/teardown giving each test a fresh arena in *state. */
int harness_setup_arena(void **state);
int harness_teardown_arena(void **state);

/* Runs a bash function from scripts/lib.sh (pg_start, pg_stop ...); returns its exit status. */
int harness_lib_sh(const char *command);

#endif
