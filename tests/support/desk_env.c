/*
 * The desk tests' gateway and the agent's side of it (desk_env.h). Agents
 * are made with the real CLI (`intake agent add`, `intake agent token`), as
 * an administrator would; quick outbox settings (a 100 ms poll, a 1 s
 * back-off) keep a retried delivery within a test's patience.
 */
#include "desk_env.h"

#include "phone_webhooks.h"

#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

void desk_env_start(struct desk_env *f, const char *name, const char *extra)
{
    const int statuses[] = {201};
    harness_smtp_start(&f->smtp, 0);
    sink_start(&f->sms, statuses, 1);
    char config[2048];
    snprintf(config, sizeof(config),
             "{\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"no\"},"
             "\"outbox\":{\"poll_ms\":100,\"backoff_seconds\":1},"
             "\"channels\":{\"email\":{\"from_address\":\"help@desk.example\"},"
             "\"phone\":{\"default_country_code\":\"86\",\"cti_token\":\"" DESK_CTI_TOKEN "\","
             "\"sms\":{\"url\":\"http://127.0.0.1:%d/Messages.json\",\"from\":\"+861000000000\","
             "\"account\":\"AC1\",\"token\":\"t\"}},"
             "\"chat\":{\"allowed_origins\":[\"http://shop.example\"]}}%s%s}",
             f->smtp.port, f->sms.port, extra ? "," : "", extra ? extra : "");
    harness_db_create(&f->db, name);
    assert_int_equal(harness_migrate(f->db.url, NULL, 0), 0);
    harness_gateway_start_config(&f->gw, f->db.url, config, NULL);
    f->pg = harness_pg(f->db.url);
}

void desk_env_stop(struct desk_env *f)
{
    if (f->gw.pid > 0)
        assert_int_equal(harness_gateway_stop(&f->gw), 0);
    PQfinish(f->pg);
    harness_db_drop(&f->db);
    harness_smtp_stop(&f->smtp);
    sink_stop(&f->sms);
}

int desk_env_cli(const struct desk_env *f, char *out, size_t cap, const char *const *args)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        setenv("INTAKE_DATABASE_URL", f->db.url, 1);
        const char *argv[16] = {INTAKE_BINARY};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t r;
    while (out && n + 1 < cap && (r = read(pipefd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    if (out)
        out[n] = '\0';
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void desk_env_add_agent(const struct desk_env *f, const char *name, const char *email,
                        const char *role, const char *queues, const char *capacity, char *token,
                        size_t cap)
{
    const char *args[] = {"agent", "add",      "--name", name,         "--email", email, "--role",
                          role,    "--queues", queues,   "--capacity", capacity,  NULL};
    char out[1024];
    assert_int_equal(desk_env_cli(f, out, sizeof(out), args), 0);
    assert_non_null(strstr(out, email));
    const char *tok[] = {"agent", "token", email, NULL};
    assert_int_equal(desk_env_cli(f, out, sizeof(out), tok), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_true(strlen(out) >= 40);
    snprintf(token, cap, "%s", out);
}

struct harness_response desk_env_call(const struct desk_env *f, const char *token,
                                      const char *method, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->gw.base, path);
    struct harness_response r;
    harness_http(method, url, token, body ? "application/json" : NULL, body,
                 body ? strlen(body) : 0, &r);
    return r;
}

long desk_env_status(const struct desk_env *f, const char *token, const char *method,
                     const char *path, const char *body)
{
    struct harness_response r = desk_env_call(f, token, method, path, body);
    long s = r.status;
    harness_response_free(&r);
    return s;
}

char *desk_env_contact(const struct desk_env *f, const char *id, const char *email,
                       const char *text)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"%s\",\"customer\":{\"email\":\"%s\"},\"subject\":\"%s\","
             "\"body\":\"%s\"}",
             id, email, text, text);
    return harness_post_new_contact(&f->gw, json);
}

char *desk_env_missed_call(struct desk_env *f, const char *mobile, const char *call_id)
{
    char form[256];
    snprintf(form, sizeof(form),
             "event=hangup&direction=in&from=%s&to=01012345678&callId=%s&cause=noAnswer", mobile,
             call_id);
    pthread_mutex_lock(&f->sms.lock);
    int before = f->sms.count;
    pthread_mutex_unlock(&f->sms.lock);
    assert_int_equal(webhook_cti(&f->gw, DESK_CTI_TOKEN, form), 200);
    assert_int_equal(sink_wait(&f->sms, before + 1, DESK_WAIT_MS), before + 1);
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT t.number FROM messages m JOIN tickets t ON t.id = "
             "m.ticket_id WHERE m.external_ref LIKE 'call:cti:%s%%'",
             call_id);
    return harness_pg_text(f->pg, sql);
}

char *desk_env_sms_text(struct desk_env *f, int i)
{
    pthread_mutex_lock(&f->sms.lock);
    char *body = curl_easy_unescape(NULL, f->sms.bodies[i], 0, NULL);
    pthread_mutex_unlock(&f->sms.lock);
    assert_non_null(body);
    return body;
}

char *desk_env_mail_text(struct harness_smtp *smtp, int i)
{
    char *msg = harness_smtp_message(smtp, i);
    assert_non_null(msg);
    char *w = msg;
    for (const char *r = msg; *r;)
        if (r[0] == '=' && r[1] == '\r' && r[2] == '\n')
            r += 3;
        else if (r[0] == '=' && r[1] == '\n')
            r += 2;
        else
            *w++ = *r++;
    *w = '\0';
    return msg;
}

struct ws_client *desk_env_stream_at(int port, const char *token, long after, const char *presence)
{
    struct ws_client *c = ws_connect(port, "/v1/agent/stream", DESK_PROTOCOL, NULL);
    assert_non_null(c);
    char hello[256];
    snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"token\":\"%s\",\"after\":%ld%s%s%s}",
             token, after, presence ? ",\"presence\":\"" : "", presence ? presence : "",
             presence ? "\"" : "");
    assert_true(ws_send(c, hello));
    char *welcome = ws_recv_type(c, "welcome", DESK_WAIT_MS);
    assert_non_null(welcome);
    free(welcome);
    return c;
}

struct ws_client *desk_env_stream(const struct desk_env *f, const char *token, long after,
                                  const char *presence)
{
    return desk_env_stream_at(f->gw.port, token, after, presence);
}

void desk_env_expect_event(struct ws_client *c, const char *type, const char *ticket)
{
    char *ev = ws_recv_type(c, type, DESK_WAIT_MS);
    assert_non_null(ev);
    assert_non_null(strstr(ev, ticket));
    assert_non_null(strstr(ev, "\"seq\":"));
    free(ev);
}
