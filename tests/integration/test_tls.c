/*
 * The gateway's own TLS (tls.cert_file, tls.key_file), end to end: a
 * throwaway CA and server certificates made with openssl in a temporary
 * folder (removed at the end), the real `intake` binary, libcurl trusting
 * that CA alone, and the lws test client over wss. Covered: HTTPS /healthz
 * and a contact; plain HTTP, TLS 1.1 and weak ciphers refused by the server;
 * the chat over wss; weak or broken pairs refused by check-config and serve;
 * SIGHUP swapping the certificate while connections opened before keep
 * working, and a bad pair on SIGHUP leaving the old one in place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ws_client.h"

#define ORIGIN   "http://shop.example"
#define PROTOCOL "intake-chat.v1"
#define WAIT_MS  5000

static char dir[64]; /* the certificates, the gateway's files */
static struct harness_db db;

/* What one HTTPS request saw. */
struct seen {
    CURLcode code;
    long status;
    long new_connections; /* 0: the request went over a connection already open */
    char subject[128];    /* the server certificate's, as curl prints it */
    char error[CURL_ERROR_SIZE];
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("failed: %s", cmd);
}

/*
 * A certificate valid since two days ago until yesterday, for the key in
 * key_pem: `openssl x509` of OpenSSL 3.0 cannot date one in the past.
 */
static void make_expired(const char *key_pem, const char *out_pem)
{
    FILE *f = fopen(key_pem, "r");
    assert_non_null(f);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0xE1);
    X509_gmtime_adj(X509_getm_notBefore(x), -2 * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), -86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"intake-expired",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    f = fopen(out_pem, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

/*
 * The CA, and certificates for 127.0.0.1 signed by it: a (RSA 2048, serial
 * A1), b (P-256, serial B2), soon (b's key, 5 days), weak (RSA 1024), sha1
 * (signed with SHA-1); enc.key is b's key under a pass phrase.
 */
static void sign(const char *name, const char *serial, int days, const char *digest)
{
    sh("openssl x509 -req -in %1$s/%2$s.csr -CA %1$s/ca.pem -CAkey %1$s/ca.key -set_serial 0x%3$s "
       "-days %4$d %5$s -extfile %1$s/san.ext -out %1$s/%2$s.pem 2>/dev/null",
       dir, name, serial, days, digest);
}

static int make_certificates(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/intake-tls-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    sh("cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
       "-keyout ca.key -out ca.pem -subj '/CN=Intake Test CA' 2>/dev/null",
       dir);
    struct {
        const char *name, *newkey, *serial;
        const char *digest;
    } certs[] = {{"a", "rsa:2048", "A1", ""},
                 {"b", "ec -pkeyopt ec_paramgen_curve:prime256v1", "B2", ""},
                 {"weak", "rsa:1024", "C3", ""},
                 {"sha1", "ec -pkeyopt ec_paramgen_curve:prime256v1", "D4", "-sha1"}};
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
        sh("openssl req -newkey %2$s -nodes -keyout %1$s/%3$s.key -out %1$s/%3$s.csr "
           "-subj /CN=intake-%3$s 2>/dev/null",
           dir, certs[i].newkey, certs[i].name);
        sign(certs[i].name, certs[i].serial, 30, certs[i].digest);
    }
    sh("cd %1$s && cp b.key soon.key && cp b.csr soon.csr && "
       "openssl pkey -in b.key -aes128 -passout pass:secret -out enc.key",
       dir);
    sign("soon", "E5", 5, "");
    char key[128], out[128];
    snprintf(key, sizeof(key), "%s/b.key", dir);
    snprintf(out, sizeof(out), "%s/expired.pem", dir);
    make_expired(key, out);
    harness_db_create(&db, "tls");
    return harness_migrate(db.url, NULL, 0);
}

static int remove_certificates(void **state)
{
    (void)state;
    harness_db_drop(&db);
    sh("rm -rf %s", dir);
    return 0;
}

/* One HTTPS (or plain) request on handle h, made by the caller so that it can be reused. */
static void request(CURL *h, const char *method, const char *url, const char *body,
                    struct seen *out)
{
    memset(out, 0, sizeof(*out));
    char ca[128];
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Authorization: Bearer " HARNESS_TOKEN);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, out->error);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, NULL);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    out->code = curl_easy_perform(h);
    fclose(sink);
    curl_slist_free_all(headers);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->new_connections);
    struct curl_certinfo *info = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &info) == CURLE_OK && info &&
        info->num_of_certs > 0)
        for (struct curl_slist *s = info->certinfo[0]; s; s = s->next)
            if (!strncmp(s->data, "Subject:", 8))
                snprintf(out->subject, sizeof(out->subject), "%s", s->data + 8);
}

/* A request on a connection of its own. */
static void request_once(const char *method, const char *url, const char *body, struct seen *out)
{
    CURL *h = curl_easy_init();
    request(h, method, url, body, out);
    curl_easy_cleanup(h);
}

/* A /healthz asking for the TLS versions given, with only the ciphers given (OpenSSL's names). */
static void handshake_with(int port, long version, const char *ciphers, struct seen *out)
{
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_SSLVERSION, version);
    curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, ciphers);
    request(h, "GET", url, NULL, out);
    curl_easy_cleanup(h);
}

struct tls_gateway {
    pid_t pid;
    int port;
    char url[64]; /* https://127.0.0.1:PORT */
    char log[128];
};

/* `intake serve` with the pair at dir/cert and dir/key; waits for HTTPS /healthz. */
static void gateway_start(struct tls_gateway *gw, const char *cert, const char *key)
{
    gw->port = harness_free_port();
    snprintf(gw->url, sizeof(gw->url), "https://127.0.0.1:%d", gw->port);
    snprintf(gw->log, sizeof(gw->log), "%s/gateway-%d.log", dir, gw->port);
    char config[512];
    snprintf(config, sizeof(config), "%s/gateway-%d.json", dir, gw->port);
    FILE *f = fopen(config, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"listen\":\"127.0.0.1:%d\",\"public_url\":\"%s\",\"database_url\":\"%s\","
            "\"tls\":{\"cert_file\":\"%s/%s\",\"key_file\":\"%s/%s\"},"
            "\"channels\":{\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]}}}",
            gw->port, gw->url, db.url, dir, cert, dir, key);
    fclose(f);
    gw->pid = fork();
    assert_true(gw->pid >= 0);
    if (gw->pid == 0) {
        int fd = open(gw->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("INTAKE_API_TOKEN", HARNESS_TOKEN, 1);
        execl(INTAKE_BINARY, INTAKE_BINARY, "--config", config, "serve", (char *)NULL);
        _exit(127);
    }
    char url[96];
    snprintf(url, sizeof(url), "%s/healthz", gw->url);
    for (int i = 0; i < 200; i++) {
        struct seen s;
        request_once("GET", url, NULL, &s);
        if (s.status == 200)
            return;
        if (waitpid(gw->pid, NULL, WNOHANG) == gw->pid)
            fail_msg("intake serve exited early; see %s", gw->log);
        usleep(50 * 1000);
    }
    fail_msg("intake serve did not come up over https; see %s", gw->log);
}

static int gateway_stop(struct tls_gateway *gw)
{
    kill(gw->pid, SIGTERM);
    int status = 0;
    waitpid(gw->pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Waits until the gateway's log has n lines with needle. */
static void wait_for_log(const struct tls_gateway *gw, const char *needle, int n)
{
    for (int i = 0; i < 100 && harness_count_lines(gw->log, needle) < n; i++)
        usleep(50 * 1000);
    assert_int_equal(harness_count_lines(gw->log, needle), n);
}

/* dir/CERT.pem and dir/KEY.key become dir/cert.pem and dir/key.pem, each by a rename. */
static void install_pair(const char *cert, const char *key)
{
    sh("cd %1$s && cp %2$s.pem cert.new && cp %3$s.key key.new && mv cert.new cert.pem && "
       "mv key.new key.pem",
       dir, cert, key);
}

/* A chat session over wss: the welcome, then a message that the server acknowledges. */
static struct ws_client *chat_hello(int port)
{
    char ca[128];
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    struct ws_client *c = ws_connect_tls(port, "/v1/chat", PROTOCOL, ORIGIN, ca);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"en\",\"profile\":{\"name\":\"Ana\","
                           "\"email\":\"ana@example.com\"}}"));
    char *welcome = ws_recv_type(c, "welcome", WAIT_MS);
    assert_non_null(welcome);
    free(welcome);
    return c;
}

static void chat_say(struct ws_client *c, const char *client_id)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "{\"type\":\"message\",\"client_id\":\"%s\",\"text\":\"My order is late\"}",
             client_id);
    assert_true(ws_send(c, msg));
    char *ack = ws_recv_type(c, "ack", WAIT_MS);
    assert_non_null(ack);
    free(ack);
}

static void test_https_serves_and_refuses_plain_http_old_tls_and_weak_ciphers(void **state)
{
    (void)state;
    struct tls_gateway gw;
    gateway_start(&gw, "a.pem", "a.key");
    char url[128];
    struct seen s;

    snprintf(url, sizeof(url), "%s/healthz", gw.url);
    request_once("GET", url, NULL, &s);
    assert_int_equal(s.status, 200);
    assert_non_null(strstr(s.subject, "intake-a"));

    snprintf(url, sizeof(url), "%s/v1/contacts", gw.url);
    request_once("POST", url,
                 "{\"external_id\":\"tls-1\",\"customer\":{\"email\":\"tls@example.com\"},"
                 "\"body\":\"Asked over HTTPS\"}",
                 &s);
    assert_int_equal(s.status, 201);
    PGconn *pg = harness_pg(db.url);
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM messages WHERE idempotency_key "
                                         "= 'api:tls-1'"),
                     1);
    PQfinish(pg);

    /* Plain HTTP on the TLS port gets no HTTP answer. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", gw.port);
    request_once("GET", url, NULL, &s);
    assert_int_not_equal(s.code, CURLE_OK);
    assert_int_equal(s.status, 0);

    /*
     * TLS 1.1 from a client that offers it (security level 0 lets OpenSSL
     * 3 speak it): the server answers with a protocol_version alert.
     */
    handshake_with(gw.port, CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1,
                   "DEFAULT:@SECLEVEL=0", &s);
    assert_int_equal(s.code, CURLE_SSL_CONNECT_ERROR);
    assert_non_null(strstr(s.error, "alert protocol version"));
    /* TLS 1.2 with only RSA key exchange, or only CBC with SHA-1: no shared cipher. */
    handshake_with(gw.port, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2,
                   "AES128-GCM-SHA256", &s);
    assert_int_equal(s.code, CURLE_SSL_CONNECT_ERROR);
    assert_non_null(strstr(s.error, "alert handshake failure"));
    handshake_with(gw.port, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2,
                   "ECDHE-RSA-AES128-SHA", &s);
    assert_int_equal(s.code, CURLE_SSL_CONNECT_ERROR);
    /* The same client with a strong suite is served: the refusals were the settings'. */
    handshake_with(gw.port, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2,
                   "ECDHE-RSA-AES128-GCM-SHA256", &s);
    assert_int_equal(s.status, 200);

    /* The chat over wss: a session, and a message stored and acknowledged. */
    struct ws_client *c = chat_hello(gw.port);
    chat_say(c, "tls-chat-1");
    ws_free(c);
    assert_int_equal(gateway_stop(&gw), 0);
    /* The key's path may be logged; the key never. */
    assert_int_equal(harness_count_lines(gw.log, "PRIVATE KEY"), 0);
    assert_true(harness_count_lines(gw.log, "subject=/CN=intake-a serial=A1") == 1);
}

static void test_sighup_swaps_the_certificate_and_keeps_open_connections(void **state)
{
    (void)state;
    install_pair("a", "a");
    struct tls_gateway gw;
    gateway_start(&gw, "cert.pem", "key.pem");
    char url[128];
    snprintf(url, sizeof(url), "%s/healthz", gw.url);
    CURL *kept = curl_easy_init();
    struct seen s;
    request(kept, "GET", url, NULL, &s);
    assert_int_equal(s.status, 200);
    assert_non_null(strstr(s.subject, "intake-a"));
    struct ws_client *chat = chat_hello(gw.port);

    install_pair("b", "b");
    kill(gw.pid, SIGHUP);
    wait_for_log(&gw, "tls: reloaded; new connections get subject=/CN=intake-b serial=B2", 1);
    /* Both connections opened before still answer; the HTTP one was not reopened. */
    request(kept, "GET", url, NULL, &s);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.new_connections, 0);
    chat_say(chat, "sighup-1");
    /* A new connection gets the new certificate. */
    request_once("GET", url, NULL, &s);
    assert_int_equal(s.status, 200);
    assert_non_null(strstr(s.subject, "intake-b"));

    /* A key that is not the certificate's, then an expired certificate: refused, b stays. */
    install_pair("a", "b");
    kill(gw.pid, SIGHUP);
    wait_for_log(&gw, "tls: reload refused: tls.key_file: the key in", 1);
    install_pair("expired", "b");
    kill(gw.pid, SIGHUP);
    wait_for_log(&gw, "tls: reload refused: tls.cert_file: the certificate in", 1);
    assert_int_equal(harness_count_lines(gw.log, "still serving subject=/CN=intake-b"), 2);
    request_once("GET", url, NULL, &s);
    assert_int_equal(s.status, 200);
    assert_non_null(strstr(s.subject, "intake-b"));
    request(kept, "GET", url, NULL, &s);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.new_connections, 0);
    chat_say(chat, "sighup-2");

    ws_free(chat);
    curl_easy_cleanup(kept);
    assert_int_equal(gateway_stop(&gw), 0);
    assert_int_equal(harness_count_lines(gw.log, "PRIVATE KEY"), 0);
}

/* `intake CMD` with the pair given by environment; stdout and stderr in out. */
static int run_with_pair(const char *cmd, const char *cert, const char *key, char *out, size_t cap)
{
    char line[1024];
    snprintf(line, sizeof(line),
             "INTAKE_CONFIG= INTAKE_API_TOKEN=%s INTAKE_DATABASE_URL='%s' "
             "INTAKE_LISTEN=127.0.0.1:%d INTAKE_PUBLIC_URL=https://127.0.0.1 "
             "INTAKE_TLS_CERT_FILE=%s INTAKE_TLS_KEY_FILE=%s timeout 20 %s %s 2>&1",
             HARNESS_TOKEN, db.url, harness_free_port(), cert, key, INTAKE_BINARY, cmd);
    return harness_shell(line, out, cap);
}

static void test_weak_or_broken_pairs_are_refused_before_serving(void **state)
{
    (void)state;
    /* Each says: a setting and what is wrong, naming the file (said = before + path + after). */
    struct {
        const char *cert, *key, *before, *file, *after;
    } bad[] = {
        {"missing.pem", "a.key", "tls.cert_file: cannot read ", "missing.pem", ": No such file"},
        {"a.pem", "missing.key", "tls.key_file: cannot read ", "missing.key", ": No such file"},
        {"ca.key", "a.key", "tls.cert_file: ", "ca.key", " holds no PEM certificate"},
        {"a.pem", "b.key", "tls.key_file: the key in ", "b.key", " does not belong to the"},
        {"weak.pem", "weak.key", "tls.key_file: ", "weak.key", " is an RSA key of 1024 bits"},
        {"sha1.pem", "sha1.key", "tls.cert_file: the certificate in ", "sha1.pem",
         " is signed with SHA1"},
        {"expired.pem", "b.key", "tls.cert_file: the certificate in ", "expired.pem",
         " expired on"},
        {"b.pem", "enc.key", "tls.key_file: ", "enc.key", " holds no PEM private key"},
    };
    char out[4096], cert[128], key[128], says[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(cert, sizeof(cert), "%s/%s", dir, bad[i].cert);
        snprintf(key, sizeof(key), "%s/%s", dir, bad[i].key);
        snprintf(says, sizeof(says), "%s%s/%s%s", bad[i].before, dir, bad[i].file, bad[i].after);
        /* check-config and serve say the same, and exit 78 (EX_CONFIG). */
        for (int serve = 0; serve < 2; serve++) {
            int rc = run_with_pair(serve ? "serve" : "check-config", cert, key, out, sizeof(out));
            if (rc != 78 || !strstr(out, says))
                fail_msg("%s with %s + %s: exit %d, said:\n%s\nexpected: %s",
                         serve ? "serve" : "check-config", bad[i].cert, bad[i].key, rc, out, says);
            assert_null(strstr(out, "PRIVATE KEY"));
        }
    }
    /* One without the other is a configuration problem already. */
    snprintf(cert, sizeof(cert), "%s/a.pem", dir);
    assert_int_equal(run_with_pair("check-config", cert, "", out, sizeof(out)), 78);
    assert_non_null(strstr(out, "tls.key_file: required when tls.cert_file is set"));

    /* Good pairs pass; one that expires within 14 days passes with a warning. */
    snprintf(key, sizeof(key), "%s/a.key", dir);
    assert_int_equal(run_with_pair("check-config", cert, key, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "(https)"));
    assert_null(strstr(out, "warning"));
    snprintf(cert, sizeof(cert), "%s/soon.pem", dir);
    snprintf(key, sizeof(key), "%s/soon.key", dir);
    assert_int_equal(run_with_pair("check-config", cert, key, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "config: warning: tls.cert_file: the certificate in"));
    assert_non_null(strstr(out, "in 4 days"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weak_or_broken_pairs_are_refused_before_serving),
        cmocka_unit_test(test_https_serves_and_refuses_plain_http_old_tls_and_weak_ciphers),
        cmocka_unit_test(test_sighup_swaps_the_certificate_and_keeps_open_connections),
    };
    int rc = cmocka_run_group_tests(tests, make_certificates, remove_certificates);
    curl_global_cleanup();
    return rc;
}
