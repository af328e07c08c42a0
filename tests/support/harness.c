/*
 * Integration test harness. Tests fail (never skip) when the database the
 * suite needs is missing: a suite that silently skips proves nothing.
 */
#include "harness.h"

#include "gw_arena.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

extern char **environ;

static const char *test_pg(void)
{
    const char *u = getenv("INTAKE_TEST_PG");
    if (!u || !*u)
        fail_msg("INTAKE_TEST_PG is not set: run the suite through scripts/test");
    return u;
}

PGconn *harness_pg(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", url, PQerrorMessage(c));
    return c;
}

void harness_pg_exec(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

char *harness_pg_text(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", sql, PQresultErrorMessage(r));
    char *out = NULL;
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

void harness_pg_text_is(PGconn *conn, const char *sql, const char *expected)
{
    char *got = harness_pg_text(conn, sql);
    if (!got || strcmp(got, expected))
        fail_msg("%s\ngave %s, expected %s", sql, got ? got : "NULL", expected);
    free(got);
}

long harness_pg_longf(PGconn *conn, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return harness_pg_long(conn, sql);
}

long harness_pg_wait(PGconn *conn, const char *sql, long expect)
{
    long v = -1;
    for (int i = 0; i < 150; i++) {
        if ((v = harness_pg_long(conn, sql)) == expect)
            break;
        usleep(100 * 1000);
    }
    return v;
}

long harness_pg_long(PGconn *conn, const char *sql)
{
    char *t = harness_pg_text(conn, sql);
    if (!t)
        fail_msg("SQL returned no value: %s", sql);
    long v = strtol(t, NULL, 10);
    free(t);
    return v;
}

/* Replace the database name at the end of a URL. */
static void url_with_db(char *out, size_t n, const char *server_url, const char *db)
{
    const char *slash = strrchr(server_url, '/');
    int keep = slash ? (int)(slash - server_url) : (int)strlen(server_url);
    snprintf(out, n, "%.*s/%s", keep, server_url, db);
}

void harness_db_create_on(struct harness_db *db, const char *server_url, const char *test_name)
{
    snprintf(db->name, sizeof(db->name), "t_%s_%d", test_name, (int)getpid());
    PGconn *c = harness_pg(server_url);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db->name);
    harness_pg_exec(c, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db->name);
    harness_pg_exec(c, sql);
    PQfinish(c);
    url_with_db(db->url, sizeof(db->url), server_url, db->name);
}

void harness_db_create(struct harness_db *db, const char *test_name)
{
    harness_db_create_on(db, test_pg(), test_name);
}

void harness_db_drop(struct harness_db *db)
{
    char admin[512];
    url_with_db(admin, sizeof(admin), db->url, "postgres");
    PGconn *c = PQconnectdb(admin);
    if (PQstatus(c) == CONNECTION_OK) {
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
        PGresult *r = PQexec(c, sql);
        PQclear(r);
    }
    PQfinish(c);
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        fail_msg("cannot find a free port");
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void harness_unreachable_db_url(char *out, size_t cap)
{
    snprintf(out, cap, "postgresql://postgres@127.0.0.1:%d/nothing", harness_free_port());
}

/*
 * Every server a test starts is stopped when the test program ends, also when
 * a failed assertion skipped the test's own clean-up.
 */
#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];
static char dovecots[MAX_CHILDREN][128];

static void stop_everything(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0 && kill(children[i], 0) == 0) {
            kill(children[i], SIGTERM);
            waitpid(children[i], NULL, 0);
        }
        if (dovecots[i][0]) {
            /* Room for the longest folder, and checked: a command cut short stops nothing. */
            char cmd[sizeof(dovecots[i]) + 64];
            int n = snprintf(cmd, sizeof(cmd), "dovecot -c %s/dovecot.conf stop >/dev/null 2>&1",
                             dovecots[i]);
            if (n < 0 || (size_t)n >= sizeof(cmd) || system(cmd) != 0)
                dovecots[i][0] = '\0';
        }
    }
}

static void remember(pid_t pid, const char *dovecot_dir)
{
    static int registered;
    if (!registered) {
        atexit(stop_everything);
        registered = 1;
    }
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (pid > 0 && children[i] <= 0) {
            children[i] = pid;
            return;
        }
        if (dovecot_dir && !dovecots[i][0]) {
            snprintf(dovecots[i], sizeof(dovecots[i]), "%s", dovecot_dir);
            return;
        }
    }
}

/* fork + exec with environ plus extra; stdout/stderr to log_path (or inherited). */
static pid_t spawn(char *const argv[], const char *const *extra, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        for (const char *const *e = extra; e && *e; e++)
            putenv((char *)*e);
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    remember(pid, NULL);
    return pid;
}

static void forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

static int wait_status(pid_t pid)
{
    forget(pid);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int harness_migrate(const char *url, char *output, size_t output_len)
{
    char envv[600];
    snprintf(envv, sizeof(envv), "INTAKE_DATABASE_URL=%s", url);
    const char *extra[] = {envv, NULL};
    char log[] = "/tmp/intake-migrate-XXXXXX";
    int fd = mkstemp(log);
    if (fd < 0)
        fail_msg("mkstemp");
    close(fd);
    char *argv[] = {(char *)INTAKE_BINARY, (char *)"migrate", NULL};
    int rc = wait_status(spawn(argv, extra, log));
    if (output && output_len) {
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(output, 1, output_len - 1, f) : 0;
        output[n] = '\0';
        if (f)
            fclose(f);
    }
    unlink(log);
    return rc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void harness_gateway_start_config(struct harness_gateway *gw, const char *db_url,
                                  const char *config_json, const char *const *extra_env)
{
    memset(gw, 0, sizeof(*gw));
    gw->port = harness_free_port();
    snprintf(gw->base, sizeof(gw->base), "http://127.0.0.1:%d", gw->port);
    snprintf(gw->log_path, sizeof(gw->log_path), "/tmp/intake-test-%d-%d.log", (int)getpid(),
             gw->port);
    static char env[8][700];
    const char *all[16];
    size_t n = 0;
    snprintf(env[0], sizeof(env[0]), "INTAKE_DATABASE_URL=%s", db_url);
    snprintf(env[1], sizeof(env[1]), "INTAKE_LISTEN=127.0.0.1:%d", gw->port);
    snprintf(env[2], sizeof(env[2]), "INTAKE_API_TOKEN=%s", HARNESS_TOKEN);
    snprintf(env[3], sizeof(env[3]), "INTAKE_CONFIG=");
    for (int i = 0; i < 4; i++)
        all[n++] = env[i];
    if (config_json) {
        char path[128];
        snprintf(path, sizeof(path), "/tmp/intake-test-%d-%d.json", (int)getpid(), gw->port);
        FILE *f = fopen(path, "w");
        if (!f)
            fail_msg("cannot write %s", path);
        fputs(config_json, f);
        fclose(f);
        snprintf(env[3], sizeof(env[3]), "INTAKE_CONFIG=%s", path);
    }
    for (const char *const *e = extra_env; e && *e && n < 15; e++)
        all[n++] = *e;
    all[n] = NULL;
    char *argv[] = {(char *)INTAKE_BINARY, (char *)"serve", NULL};
    gw->pid = spawn(argv, all, gw->log_path);

    char url[128];
    snprintf(url, sizeof(url), "%s/healthz", gw->base);
    for (int i = 0; i < 200; i++) {
        struct harness_response r;
        harness_http("GET", url, NULL, NULL, NULL, 0, &r);
        long st = r.status;
        harness_response_free(&r);
        if (st == 200)
            return;
        int status;
        if (waitpid(gw->pid, &status, WNOHANG) == gw->pid)
            fail_msg("intake serve exited early; see %s", gw->log_path);
        sleep_ms(50);
    }
    fail_msg("intake serve did not come up; see %s", gw->log_path);
}

void harness_gateway_start(struct harness_gateway *gw, const char *db_url,
                           const char *const *extra_env)
{
    harness_gateway_start_config(gw, db_url, NULL, extra_env);
}

int harness_gateway_stop(struct harness_gateway *gw)
{
    if (gw->pid <= 0)
        return -1;
    kill(gw->pid, SIGTERM);
    int rc = wait_status(gw->pid);
    gw->pid = 0;
    return rc;
}

struct buf {
    char *data;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *user)
{
    struct buf *b = user;
    size_t add = size * n;
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *user)
{
    struct harness_response *r = user;
    size_t len = size * n;
    if (len > 13 && !strncasecmp(ptr, "retry-after:", 12))
        snprintf(r->retry_after, sizeof(r->retry_after), "%.*s", (int)strcspn(ptr + 13, "\r\n"),
                 ptr + 13);
    if (len > 18 && !strncasecmp(ptr, "www-authenticate:", 17))
        snprintf(r->www_auth, sizeof(r->www_auth), "%.*s", (int)strcspn(ptr + 18, "\r\n"),
                 ptr + 18);
    if (len > 14 && !strncasecmp(ptr, "x-request-id:", 13))
        snprintf(r->request_id, sizeof(r->request_id), "%.*s",
                 (int)strcspn(ptr + 13 + strspn(ptr + 13, " "), "\r\n"),
                 ptr + 13 + strspn(ptr + 13, " "));
    return len;
}

void harness_http(const char *method, const char *url, const char *token, const char *content_type,
                  const char *body, size_t len, struct harness_response *out)
{
    char auth[256], ct[256];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers[n++] = auth;
    }
    if (content_type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        headers[n++] = ct;
    }
    harness_http_headers(method, url, headers, body, len, out);
}

void harness_http_headers(const char *method, const char *url, const char *const *headers,
                          const char *body, size_t len, struct harness_response *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (const char *const *line = headers; line && *line; line++)
        h = curl_slist_append(h, *line);
    h = curl_slist_append(h, "Expect:");
    struct buf b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = b.data ? b.data : strdup("");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

double harness_metric(const struct harness_gateway *gw, const char *name)
{
    char url[128], key[160];
    snprintf(url, sizeof(url), "%s/metrics", gw->base);
    snprintf(key, sizeof(key), "\n%s ", name);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    const char *p = r.status == 200 && r.body ? strstr(r.body, key) : NULL;
    double v = p ? strtod(p + strlen(key), NULL) : -1;
    harness_response_free(&r);
    return v;
}

void harness_response_free(struct harness_response *r)
{
    free(r->body);
    r->body = NULL;
}

void harness_post_contact(const struct harness_gateway *gw, const char *json,
                          struct harness_response *out)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/contacts", gw->base);
    harness_http("POST", url, HARNESS_TOKEN, "application/json", json, strlen(json), out);
}

char *harness_post_new_contact(const struct harness_gateway *gw, const char *json)
{
    struct harness_response r;
    harness_post_contact(gw, json, &r);
    assert_int_equal(r.status, 201);
    char *ticket = harness_json_str(r.body, "ticket");
    harness_response_free(&r);
    assert_non_null(ticket);
    return ticket;
}

char *harness_json_str(const char *json, const char *key)
{
    json_t *o = json_loads(json, 0, NULL);
    const char *s = json_string_value(json_object_get(o, key));
    char *out = s ? strdup(s) : NULL;
    json_decref(o);
    return out;
}

int harness_json_bool(const char *json, const char *key)
{
    json_t *o = json_loads(json, 0, NULL);
    int v = json_is_true(json_object_get(o, key));
    json_decref(o);
    return v;
}

int harness_count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

int harness_lib_sh(const char *command)
{
    const char *dir = getenv("INTAKE_TEST_SCRIPTS");
    if (!dir)
        fail_msg("INTAKE_TEST_SCRIPTS is not set: run the suite through scripts/test");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "bash -c '. \"%s/lib.sh\" && %s'", dir, command);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int harness_env_setup(struct harness_env *env, const char *test_name, const char *config_json)
{
    harness_db_create(&env->db, test_name);
    if (harness_migrate(env->db.url, NULL, 0) != 0)
        return -1;
    harness_gateway_start_config(&env->gw, env->db.url, config_json, NULL);
    env->pg = harness_pg(env->db.url);
    return 0;
}

int harness_env_teardown(struct harness_env *env)
{
    PQfinish(env->pg);
    int rc = harness_gateway_stop(&env->gw);
    harness_db_drop(&env->db);
    return rc == 0 ? 0 : -1;
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Up to 5 s for a server just started to listen. */
static void wait_for_port(int port, const char *what)
{
    for (int i = 0; i < 200; i++) {
        if (port_open(port))
            return;
        sleep_ms(25);
    }
    fail_msg("%s did not start on port %d", what, port);
}

void harness_smtp_start(struct harness_smtp *smtp, int port)
{
    smtp->port = port ? port : harness_free_port();
    snprintf(smtp->dir, sizeof(smtp->dir), "/tmp/intake-smtp-%d-%d", (int)getpid(), smtp->port);
    char port_arg[64];
    snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", smtp->port);
    char *argv[] = {(char *)"/usr/bin/python3",
                    (char *)"-m",
                    (char *)"aiosmtpd",
                    (char *)"-n",
                    (char *)"-l",
                    port_arg,
                    (char *)"-c",
                    (char *)"aiosmtpd.handlers.Mailbox",
                    smtp->dir,
                    NULL};
    smtp->pid = spawn(argv, NULL, "/dev/null");
    wait_for_port(smtp->port, "the SMTP server");
}

void harness_smtp_tls_start(struct harness_smtp *smtp, const char *user, const char *password)
{
    smtp->port = harness_free_port();
    snprintf(smtp->dir, sizeof(smtp->dir), "/tmp/intake-smtps-%d-%d", (int)getpid(), smtp->port);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %1$s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
             "-keyout %1$s/key.pem -out %1$s/cert.pem -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             smtp->dir);
    if (system(cmd) != 0)
        fail_msg("openssl could not make a test certificate");
    char port_arg[16], maildir[160], cert[160], key[160];
    snprintf(port_arg, sizeof(port_arg), "%d", smtp->port);
    snprintf(maildir, sizeof(maildir), "%s/mail", smtp->dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", smtp->dir);
    snprintf(key, sizeof(key), "%s/key.pem", smtp->dir);
    char script[256];
    snprintf(script, sizeof(script), "%s/tests/support/smtp_tls_server.py", INTAKE_SOURCE_DIR);
    char *argv[] = {(char *)"/usr/bin/python3", script, port_arg, maildir, cert, key, (char *)user,
                    (char *)password,           NULL};
    smtp->pid = spawn(argv, NULL, "/dev/null");
    wait_for_port(smtp->port, "the TLS SMTP server");
    /* harness_smtp_wait() and _message() read smtp->dir/new: point them at the Maildir. */
    snprintf(smtp->dir, sizeof(smtp->dir), "%.120s", maildir);
}

void harness_smtp_stop(struct harness_smtp *smtp)
{
    if (smtp->pid > 0) {
        kill(smtp->pid, SIGTERM);
        wait_status(smtp->pid);
        smtp->pid = 0;
    }
}

/* Maildir file names start with the delivery time: sorting gives arrival order. */
static int list_mail(struct harness_smtp *smtp, char names[][512], int max)
{
    char dir[160];
    snprintf(dir, sizeof(dir), "%s/new", smtp->dir);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < max)
        if (e->d_name[0] != '.')
            snprintf(names[n++], 512, "%s/%.255s", dir, e->d_name);
    if (d)
        closedir(d);
    qsort(names, (size_t)n, 512, (int (*)(const void *, const void *))strcmp);
    return n;
}

int harness_smtp_wait(struct harness_smtp *smtp, int n, int timeout_ms)
{
    static char names[64][512];
    int got = 0;
    for (int waited = 0;; waited += 50) {
        got = list_mail(smtp, names, 64);
        if (got >= n || waited >= timeout_ms)
            return got;
        sleep_ms(50);
    }
}

char *harness_smtp_message(struct harness_smtp *smtp, int i)
{
    static char names[64][512];
    int n = list_mail(smtp, names, 64);
    if (i >= n)
        return NULL;
    FILE *f = fopen(names[i], "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t len = fread(buf, 1, (1 << 20) - 1, f);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

int harness_ingest_email(const char *db_url, const char *raw, char *output, size_t output_len)
{
    char in_path[] = "/tmp/intake-mail-XXXXXX";
    int fd = mkstemp(in_path);
    if (fd < 0 || write(fd, raw, strlen(raw)) != (ssize_t)strlen(raw))
        fail_msg("cannot write the message");
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "INTAKE_DATABASE_URL='%s' INTAKE_CONFIG= %s ingest-email < %s 2>&1",
             db_url, INTAKE_BINARY, in_path);
    int rc = harness_shell(cmd, output, output_len);
    unlink(in_path);
    return rc;
}

int harness_shell(const char *command_line, char *out, size_t cap)
{
    FILE *p = popen(command_line, "r");
    if (!p)
        fail_msg("cannot run: %s", command_line);
    size_t n = 0;
    if (out) {
        n = fread(out, 1, cap - 1, p);
        out[n] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof(sink), p) > 0)
            ;
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int harness_setup_arena(void **state)
{
    *state = gw_arena_create(4096);
    return *state ? 0 : -1;
}

int harness_teardown_arena(void **state)
{
    gw_arena_destroy(*state);
    return 0;
}

/*
 * A throwaway dovecot: its own base_dir, state and maildir under one folder,
 * plain-text logins on loopback, one static user. dovecot refuses to run its
 * login and mail processes as root, so they run as the package's users.
 */
static void imap_start(struct harness_imap *imap, int port, int tls, const char *auth_conf);

void harness_imap_start(struct harness_imap *imap, int port)
{
    imap_start(imap, port, 0, NULL);
}

void harness_imap_tls_start(struct harness_imap *imap)
{
    imap_start(imap, 0, 1, NULL);
}

void harness_imap_start_auth(struct harness_imap *imap, const char *auth_conf)
{
    imap_start(imap, 0, 0, auth_conf);
}

pid_t harness_spawn(char *const argv[], const char *log_path)
{
    return spawn(argv, NULL, log_path);
}

void harness_wait_for_port(int port, const char *what)
{
    wait_for_port(port, what);
}

static void imap_start(struct harness_imap *imap, int port, int tls, const char *auth_conf)
{
    if (!port)
        imap->port = harness_free_port();
    else
        imap->port = port;
    snprintf(imap->dir, sizeof(imap->dir), "/tmp/intake-imap-%d-%d", (int)getpid(), imap->port);
    char ssl_conf[512] = "ssl = no\ndisable_plaintext_auth = no";
    if (tls) {
        /* A certificate for 127.0.0.1 that the test trusts as its CA. */
        char mk[1024];
        snprintf(mk, sizeof(mk),
                 "mkdir -p %1$s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
                 "-keyout %1$s/key.pem -out %1$s/cert.pem -subj /CN=127.0.0.1 "
                 "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
                 imap->dir);
        if (system(mk) != 0)
            fail_msg("openssl could not make a test certificate");
        snprintf(ssl_conf, sizeof(ssl_conf),
                 "ssl = required\nssl_cert = <%1$s/cert.pem\nssl_key = <%1$s/key.pem\n"
                 "disable_plaintext_auth = yes",
                 imap->dir);
    }
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %1$s/run %1$s/state %1$s/mail/agent/new %1$s/mail/agent/cur "
             "%1$s/mail/agent/tmp && chown -R dovecot:dovecot %1$s/mail && cat > %1$s/dovecot.conf "
             "<<'CONF'\n"
             "protocols = imap\nlisten = 127.0.0.1\nbase_dir = %1$s/run\nstate_dir = %1$s/state\n"
             "log_path = %1$s/dovecot.log\n%3$s\n"
             "%4$s\nmail_location = maildir:%1$s/mail/%%u\n"
             "first_valid_uid = 1\ndefault_internal_user = dovecot\ndefault_login_user = dovenull\n"
             "userdb {\n  driver = static\n  args = uid=dovecot gid=dovecot home=%1$s/mail/%%u\n}\n"
             "service imap-login {\n  inet_listener imap {\n    port = %2$d\n  }\n"
             "  inet_listener imaps {\n    port = 0\n  }\n  chroot =\n}\n"
             "service anvil {\n  chroot =\n}\nCONF\n"
             "rm -f %1$s/run/master.pid && dovecot -c %1$s/dovecot.conf",
             imap->dir, imap->port, ssl_conf,
             auth_conf ? auth_conf
                       : "auth_mechanisms = plain login\n"
                         "passdb {\n  driver = static\n  args = password=secret\n}");
    if (system(cmd) != 0)
        fail_msg("dovecot did not start (%s)", imap->dir);
    remember(0, imap->dir);
    wait_for_port(imap->port, "dovecot");
}

void harness_imap_stop(struct harness_imap *imap)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "dovecot -c %s/dovecot.conf stop >/dev/null 2>&1", imap->dir);
    if (system(cmd) != 0)
        return;
    for (int i = 0; i < 200 && port_open(imap->port); i++)
        sleep_ms(25);
}

void harness_imap_deliver(struct harness_imap *imap, const char *raw)
{
    static int seq;
    char tmp[256], dst[256];
    snprintf(tmp, sizeof(tmp), "%s/mail/agent/tmp/%d.%d.test", imap->dir, (int)getpid(), ++seq);
    snprintf(dst, sizeof(dst), "%s/mail/agent/new/%d.%d.test", imap->dir, (int)getpid(), seq);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(raw, 1, strlen(raw), f) != strlen(raw))
        fail_msg("cannot write %s", tmp);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "chown dovecot:dovecot %s && mv %s %s", tmp, tmp, dst);
    if (system(cmd) != 0)
        fail_msg("cannot deliver into the maildir");
}

char *harness_imap_command(struct harness_imap *imap, const char *command)
{
    return harness_imap_command_bearer(imap, NULL, command);
}

char *harness_imap_command_bearer(struct harness_imap *imap, const char *bearer,
                                  const char *command)
{
    char url[128];
    snprintf(url, sizeof(url), "imap://127.0.0.1:%d/INBOX", imap->port);
    CURL *c = curl_easy_init();
    struct buf b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERNAME, "agent");
    if (bearer) {
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, bearer);
        curl_easy_setopt(c, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
    } else {
        curl_easy_setopt(c, CURLOPT_PASSWORD, "secret");
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, command);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        fail_msg("imap %s: %s", command, curl_easy_strerror(rc));
    return b.data ? b.data : strdup("");
}

unsigned char *harness_read_fixture(const char *relative, size_t *len)
{
    const char *dir = getenv("INTAKE_FIXTURES");
    if (!dir)
        fail_msg("INTAKE_FIXTURES is not set (ctest sets it)");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, relative);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            unsigned char *grown = realloc(buf, cap + 1);
            assert_non_null(grown);
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}
