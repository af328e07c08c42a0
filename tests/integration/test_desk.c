/*
 * The agents' desk end to end on a real gateway and PostgreSQL: assignment
 * (fewest open tickets, round robin, capacity, waiting until someone comes
 * online, no double assignment under concurrency), presence through the
 * agent stream, replies over the customer's own channel (mail through the
 * real SMTP server, threaded; text messages through an HTTP sink), SLA
 * escalation with a controllable clock (`intake sla-scan --at`), and the
 * survey's whole life (link by mail, page, answer, low rating -> follow-up,
 * second answer, forged, expired and superseded links).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sink.h"
#include "ws_client.h"

#define PROTOCOL "intake-agent.v1"
#define WAIT_MS  8000

struct fixture {
    struct harness_db db;
    struct harness_gateway gw;
    struct harness_smtp smtp;
    struct sink sms;
    PGconn *pg;
};

/* extra: more top-level settings ("\"key\":{...}") or NULL. */
static void start_with(struct fixture *f, const char *name, const char *extra)
{
    const int statuses[] = {201};
    harness_smtp_start(&f->smtp, 0);
    sink_start(&f->sms, statuses, 1);
    char config[2048];
    snprintf(config, sizeof(config),
             "{\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"no\"},"
             "\"outbox\":{\"poll_ms\":100,\"backoff_seconds\":1},"
             "\"channels\":{\"email\":{\"from_address\":\"help@desk.example\"},"
             "\"phone\":{\"default_country_code\":\"86\",\"cti_token\":\"cti-token-0123456789\","
             "\"sms\":{\"url\":\"http://127.0.0.1:%d/Messages.json\",\"from\":\"+861000000000\","
             "\"account\":\"AC1\",\"token\":\"t\"}},"
             "\"chat\":{\"allowed_origins\":[\"http://shop.example\"]}}%s%s}",
             f->smtp.port, f->sms.port, extra ? "," : "", extra ? extra : "");
    harness_db_create(&f->db, name);
    assert_int_equal(harness_migrate(f->db.url, NULL, 0), 0);
    harness_gateway_start_config(&f->gw, f->db.url, config, NULL);
    f->pg = harness_pg(f->db.url);
}

static void start(struct fixture *f, const char *name)
{
    start_with(f, name, NULL);
}

static void stop_after(struct fixture *f, bool gateway_stopped)
{
    if (!gateway_stopped)
        assert_int_equal(harness_gateway_stop(&f->gw), 0);
    PQfinish(f->pg);
    harness_db_drop(&f->db);
    harness_smtp_stop(&f->smtp);
    sink_stop(&f->sms);
}

static void stop(struct fixture *f)
{
    stop_after(f, false);
}

/* Runs `intake <args>` against the fixture's database; returns its exit status, stdout in out. */
static int intake(const struct fixture *f, char *out, size_t cap, const char *const *args)
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

/* Adds an agent with the CLI and issues them a token (into token). */
static void add_agent(const struct fixture *f, const char *name, const char *email,
                      const char *role, const char *queues, const char *capacity, char *token,
                      size_t cap)
{
    const char *args[] = {"agent", "add",      "--name", name,         "--email", email, "--role",
                          role,    "--queues", queues,   "--capacity", capacity,  NULL};
    char out[1024];
    assert_int_equal(intake(f, out, sizeof(out), args), 0);
    assert_non_null(strstr(out, email));
    const char *tok[] = {"agent", "token", email, NULL};
    assert_int_equal(intake(f, out, sizeof(out), tok), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_true(strlen(out) >= 40);
    snprintf(token, cap, "%s", out);
}

static struct harness_response call(const struct fixture *f, const char *token, const char *method,
                                    const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->gw.base, path);
    struct harness_response r;
    harness_http(method, url, token, body ? "application/json" : NULL, body,
                 body ? strlen(body) : 0, &r);
    return r;
}

static long status_of(const struct fixture *f, const char *token, const char *method,
                      const char *path, const char *body)
{
    struct harness_response r = call(f, token, method, path, body);
    long s = r.status;
    harness_response_free(&r);
    return s;
}

/* A contact through the API channel; returns its ticket number (malloc'd). */
static char *contact(const struct fixture *f, const char *id, const char *email, const char *text)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"%s\",\"customer\":{\"email\":\"%s\"},\"subject\":\"%s\","
             "\"body\":\"%s\"}",
             id, email, text, text);
    return harness_post_new_contact(&f->gw, json);
}

/* Opens the agent's stream on the gateway at port; returns the client after the welcome. */
static struct ws_client *stream_at(int port, const char *token, long after, const char *presence)
{
    struct ws_client *c = ws_connect(port, "/v1/agent/stream", PROTOCOL, NULL);
    assert_non_null(c);
    char hello[256];
    snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"token\":\"%s\",\"after\":%ld%s%s%s}",
             token, after, presence ? ",\"presence\":\"" : "", presence ? presence : "",
             presence ? "\"" : "");
    assert_true(ws_send(c, hello));
    char *welcome = ws_recv_type(c, "welcome", WAIT_MS);
    assert_non_null(welcome);
    free(welcome);
    return c;
}

/* The same on the fixture's gateway. */
static struct ws_client *stream(const struct fixture *f, const char *token, long after,
                                const char *presence)
{
    return stream_at(f->gw.port, token, after, presence);
}

/* The next event of a type on the stream that names the ticket. */
static void expect_event(struct ws_client *c, const char *type, const char *ticket)
{
    char *ev = ws_recv_type(c, type, WAIT_MS);
    assert_non_null(ev);
    assert_non_null(strstr(ev, ticket));
    assert_non_null(strstr(ev, "\"seq\":"));
    free(ev);
}

static void test_assignment_follows_presence_load_and_capacity(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_assign");
    char ann[64], bob[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "2", ann, sizeof(ann));
    add_agent(&f, "Bob", "bob@desk.test", "agent", "technical", "2", bob, sizeof(bob));

    /* Nobody online: the ticket waits in its queue. */
    char *t1 = contact(&f, "a1", "c1@x.test", "the app crashes");
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets WHERE assignee_id IS NULL"), 1);

    /* Ann comes online: the waiting ticket is hers, pushed on her stream. */
    struct ws_client *sa = stream(&f, ann, 0, NULL);
    expect_event(sa, "ticket.assigned", t1);
    assert_int_equal(
        harness_pg_longf(f.pg,
                         "SELECT count(*) FROM tickets t JOIN agents a ON a.id = t.assignee_id "
                         "WHERE a.name = 'Ann' AND t.number = '%s'",
                         t1),
        1);

    /* Bob online too: the next goes to the one with fewer open tickets (Bob). */
    struct ws_client *sb = stream(&f, bob, 0, NULL);
    char *t2 = contact(&f, "a2", "c2@x.test", "the app crashes again");
    expect_event(sb, "ticket.assigned", t2);
    /* Equal load (1 each): round robin, least recently assigned first (Ann). */
    char *t3 = contact(&f, "a3", "c3@x.test", "crash on start");
    expect_event(sa, "ticket.assigned", t3);
    char *t4 = contact(&f, "a4", "c4@x.test", "crash on exit");
    expect_event(sb, "ticket.assigned", t4);
    /* Both at capacity (2): the fifth waits. */
    char *t5 = contact(&f, "a5", "c5@x.test", "crash when printing");
    assert_int_equal(
        harness_pg_longf(
            f.pg, "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id IS NULL", t5),
        1);

    /* Ann resolves one: capacity frees and the waiting ticket is hers. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t1);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    expect_event(sa, "ticket.assigned", t5);

    /* Away: Bob gets nothing new; Ann's load is full again, so the next waits. */
    assert_true(ws_send(sb, "{\"type\":\"presence\",\"presence\":\"away\"}"));
    char *p = ws_recv_type(sb, "presence", WAIT_MS);
    assert_non_null(p);
    assert_non_null(strstr(p, "\"presence\":\"away\""));
    free(p);
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t2);
    assert_int_equal(status_of(&f, bob, "POST", path, "{\"status\":\"closed\"}"), 200);
    char *t6 = contact(&f, "a6", "c6@x.test", "crash in settings");
    assert_int_equal(
        harness_pg_longf(
            f.pg, "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id IS NULL", t6),
        1);
    /* Back online: the waiting ticket is handed to Bob. */
    assert_true(ws_send(sb, "{\"type\":\"presence\",\"presence\":\"online\"}"));
    expect_event(sb, "ticket.assigned", t6);

    /* The stream's close takes the agent offline. */
    ws_free(sa);
    assert_int_equal(
        harness_pg_wait(
            f.pg, "SELECT count(*) FROM agents WHERE name = 'Ann' AND presence = 'offline'", 1),
        1);
    /* A gateway that shuts down closes its streams (1001) and takes their agents offline. */
    assert_int_equal(harness_gateway_stop(&f.gw), 0);
    assert_int_equal(ws_wait_close(sb, WAIT_MS, NULL, 0), 1001);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE presence = 'offline'"), 2);
    ws_free(sb);
    free(t1), free(t2), free(t3), free(t4), free(t5), free(t6);
    stop_after(&f, true);
}

static void test_stream_resumes_after_the_last_event_seen(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_resume");
    char ann[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann, sizeof(ann));
    struct ws_client *s = stream(&f, ann, 0, NULL);
    char *t1 = contact(&f, "r1", "c1@x.test", "the app crashes");
    expect_event(s, "ticket.assigned", t1);
    ws_free(s);
    /* Closing the stream took Ann offline; online again (say, on another gateway). */
    assert_int_equal(
        harness_pg_wait(f.pg, "SELECT count(*) FROM agents WHERE presence = 'offline'", 1), 1);
    harness_pg_exec(f.pg, "UPDATE agents SET presence = 'online', online = true");
    char *t2 = contact(&f, "r2", "c2@x.test", "the app crashes too");
    assert_int_equal(
        harness_pg_wait(f.pg, "SELECT last_seq FROM live_sessions WHERE channel = 'desk'", 2), 2);
    /* Reconnect after event 1: exactly event 2 comes, not 1 again. */
    s = stream(&f, ann, 1, NULL);
    char *ev = ws_recv(s, WAIT_MS);
    assert_non_null(ev);
    assert_non_null(strstr(ev, "\"seq\":2"));
    assert_non_null(strstr(ev, t2));
    free(ev);
    assert_null(ws_recv(s, 500));
    /* A bad token closes with 4001. */
    struct ws_client *bad = ws_connect(f.gw.port, "/v1/agent/stream", PROTOCOL, NULL);
    assert_true(ws_send(bad, "{\"type\":\"hello\",\"token\":\"not-a-token\"}"));
    assert_int_equal(ws_wait_close(bad, WAIT_MS, NULL, 0), 4001);
    ws_free(bad);
    ws_free(s);
    free(t1), free(t2);
    stop(&f);
}

struct burst {
    const struct fixture *f;
    int first, n;
};

static void *send_burst(void *arg)
{
    struct burst *b = arg;
    for (int i = b->first; i < b->first + b->n; i++) {
        char id[32], email[64];
        snprintf(id, sizeof(id), "burst-%d", i);
        snprintf(email, sizeof(email), "b%d@x.test", i);
        free(contact(b->f, id, email, "crash report"));
    }
    return NULL;
}

static void test_concurrent_contacts_are_assigned_once_within_capacity(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_concurrent");
    char tok[3][64];
    const char *names[] = {"A1", "A2", "A3"};
    for (int i = 0; i < 3; i++) {
        char email[32];
        snprintf(email, sizeof(email), "a%d@desk.test", i);
        add_agent(&f, names[i], email, "agent", "technical", "5", tok[i], sizeof(tok[i]));
    }
    struct ws_client *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = stream(&f, tok[i], 0, NULL);
    /* 24 contacts from 4 threads for 15 slots. */
    pthread_t th[4];
    struct burst b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (struct burst){&f, i * 6, 6};
        pthread_create(&th[i], NULL, send_burst, &b[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM tickets"), 24);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM tickets WHERE assignee_id IS NOT NULL"), 15);
    assert_int_equal(harness_pg_longf(f.pg,
                                      "SELECT count(*) FROM (SELECT assignee_id FROM tickets WHERE "
                                      "assignee_id IS NOT NULL GROUP BY 1 HAVING count(*) <> 5) x"),
                     0);
    /* Each assigned ticket was assigned once (one timeline event each). */
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM ticket_events WHERE kind = 'created' AND "
                               "detail->>'assignee' IS NOT NULL"),
        15);
    /* And every assignment reached its agent's stream, once. */
    assert_int_equal(
        harness_pg_wait(f.pg,
                        "SELECT count(*) FROM session_events e JOIN live_sessions s ON "
                        "s.id = e.session_id WHERE s.channel = 'desk' AND "
                        "e.event->>'type' = 'ticket.assigned'",
                        15),
        15);
    for (int i = 0; i < 3; i++)
        ws_free(s[i]);
    stop(&f);
}

/*
 * A missed call from a Chinese mobile number through the CTI webhook; waits
 * for its SMS acknowledgement and returns the callback ticket (malloc'd).
 */
static char *missed_call(struct fixture *f, const char *mobile, const char *call_id)
{
    char url[160], form[256];
    snprintf(url, sizeof(url), "%s/v1/phone/cti/cti-token-0123456789", f->gw.base);
    snprintf(form, sizeof(form),
             "event=hangup&direction=in&from=%s&to=01012345678&callId=%s&cause=noAnswer", mobile,
             call_id);
    pthread_mutex_lock(&f->sms.lock);
    int before = f->sms.count;
    pthread_mutex_unlock(&f->sms.lock);
    struct harness_response r;
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded", form, strlen(form), &r);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    assert_int_equal(sink_wait(&f->sms, before + 1, WAIT_MS), before + 1);
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT t.number FROM messages m JOIN tickets t ON t.id = "
             "m.ticket_id WHERE m.external_ref LIKE 'call:cti:%s%%'",
             call_id);
    return harness_pg_text(f->pg, sql);
}

/* The i-th text message the SMS sink received, form-decoded (curl_free it). */
static char *sms_text(struct fixture *f, int i)
{
    pthread_mutex_lock(&f->sms.lock);
    char *body = curl_easy_unescape(NULL, f->sms.bodies[i], 0, NULL);
    pthread_mutex_unlock(&f->sms.lock);
    assert_non_null(body);
    return body;
}

/* The i-th mail with quoted-printable soft line breaks joined (links get them), malloc'd. */
static char *mail_text(struct harness_smtp *smtp, int i)
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

/* The first of the first n mails containing needle (malloc'd); fails the test if none. */
static char *mail_with(struct harness_smtp *smtp, int n, const char *needle)
{
    for (int i = 0; i < n; i++) {
        char *msg = mail_text(smtp, i);
        if (strstr(msg, needle))
            return msg;
        free(msg);
    }
    fail_msg("no mail contains \"%s\"", needle);
    return NULL;
}

/* A survey link ("/s/<token>") in the first n mails other than not_this, malloc'd. */
static char *survey_path(struct harness_smtp *smtp, int n, const char *not_this)
{
    for (int i = 0; i < n; i++) {
        char *msg = mail_text(smtp, i);
        const char *p = strstr(msg, "/s/");
        char *path = p ? strndup(p, 3 + 64) : NULL;
        free(msg);
        if (path && (!not_this || strcmp(path, not_this)))
            return path;
        free(path);
    }
    fail_msg("no survey link in %d mails", n);
    return NULL;
}

/* The value of a header line in a raw message (malloc'd), or NULL. */
static char *header_of(const char *msg, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\n%s: ", name);
    const char *p = strstr(msg, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    return strndup(p, strcspn(p, "\r\n"));
}

static void test_replies_go_back_by_mail_threaded_and_by_text(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_reply");
    char ann[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann, sizeof(ann));

    /* A customer's mail. */
    const char *mail = "From: Chen Jie <chen@example.cn>\r\nTo: help@desk.example\r\n"
                       "Subject: Printer shows error E5\r\nMessage-ID: <e5@example.cn>\r\n"
                       "Date: Sun, 22 Nov 2026 10:00:00 +0800\r\n\r\nIt broke.\r\n";
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", f.gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", mail, strlen(mail), &r);
    assert_int_equal(r.status, 201);
    char *ticket = harness_json_str(r.body, "ticket");
    harness_response_free(&r);
    assert_int_equal(harness_smtp_wait(&f.smtp, 1, WAIT_MS), 1); /* the acknowledgement */

    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/replies", ticket);
    r = call(&f, ann, "POST", path, "{\"text\":\"Please restart the printer.\",\"key\":\"k1\"}");
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
    /* The same key again: stored once, sent once. */
    assert_int_equal(status_of(&f, ann, "POST", path,
                               "{\"text\":\"Please restart the printer.\",\"key\":\"k1\"}"),
                     200);
    assert_int_equal(harness_smtp_wait(&f.smtp, 2, WAIT_MS), 2);
    char *sent = mail_with(&f.smtp, 2, "Please restart the printer.");
    char *irt = header_of(sent, "In-Reply-To"), *subject = header_of(sent, "Subject");
    char *to = header_of(sent, "To");
    assert_string_equal(irt, "<e5@example.cn>");
    assert_non_null(strstr(subject, ticket));
    assert_non_null(strstr(to, "chen@example.cn"));
    assert_int_equal(harness_smtp_wait(&f.smtp, 3, 800), 2);
    /* The reply stopped the first-response clock; its mail's Message-ID threads answers. */
    assert_int_equal(harness_pg_longf(f.pg,
                                      "SELECT count(*) FROM tickets WHERE number = '%s' AND "
                                      "first_responded_at IS NOT NULL",
                                      ticket),
                     1);
    assert_int_equal(
        harness_pg_wait(f.pg,
                        "SELECT count(*) FROM messages WHERE direction = 'out' AND "
                        "body = 'Please restart the printer.' AND external_ref IS NOT NULL",
                        1),
        1);
    free(irt), free(subject), free(to), free(sent), free(ticket);

    /* A missed call becomes a callback ticket; the agent's reply goes by text message. */
    char *phone_ticket = missed_call(&f, "13811112222", "call-77");
    snprintf(path, sizeof(path), "/v1/tickets/%s/replies", phone_ticket);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"text\":\"Calling you at 3pm\"}"), 201);
    assert_int_equal(sink_wait(&f.sms, 2, WAIT_MS), 2);
    char *body = sms_text(&f, 1);
    assert_non_null(strstr(body, "To=+8613811112222"));
    assert_non_null(strstr(body, "Calling you at 3pm"));
    assert_non_null(strstr(body, phone_ticket));
    curl_free(body);
    free(phone_ticket);
    stop(&f);
}

static void test_breached_clocks_escalate_to_the_next_tier(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_sla");
    char ann[64], lee[64], sue[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "10", ann, sizeof(ann));
    add_agent(&f, "Lee", "lee@desk.test", "lead", "technical", "10", lee, sizeof(lee));
    add_agent(&f, "Sue", "sue@desk.test", "supervisor", "complaints", "10", sue, sizeof(sue));
    struct ws_client *sl = stream(&f, lee, 0, "away");
    struct ws_client *ss = stream(&f, sue, 0, "away");
    char *t = contact(&f, "s1", "c@x.test", "the app crashes");
    harness_pg_exec(f.pg, "UPDATE tickets SET created_at = '2026-11-20 08:00+00', "
                          "first_response_due_at = '2026-11-20 08:15+00', handling_due_at = "
                          "'2026-11-22 08:00+00', resolution_due_at = '2026-11-21 08:00+00'");
    char out[4096];
    /* Before any clock runs out: nothing. */
    const char *early[] = {"sla-scan", "--at", "2026-11-20 08:10+00", NULL};
    assert_int_equal(intake(&f, out, sizeof(out), early), 0);
    assert_non_null(strstr(out, "\"breaches\": []"));
    /* The first response is late: level 2, the lead hears of it. */
    const char *late[] = {"sla-scan", "--at", "2026-11-20 08:16+00", NULL};
    assert_int_equal(intake(&f, out, sizeof(out), late), 0);
    assert_non_null(strstr(out, "first_response"));
    assert_int_equal(harness_pg_longf(f.pg, "SELECT escalation_level FROM tickets"), 2);
    expect_event(sl, "ticket.escalated", t);
    /* The same scan again changes nothing. */
    assert_int_equal(intake(&f, out, sizeof(out), late), 0);
    assert_non_null(strstr(out, "\"breaches\": []"));
    /* Level 2's first response (12 h from the escalation) runs out too: level 3, supervisors. */
    const char *later[] = {"sla-scan", "--at", "2026-11-20 20:17+00", NULL};
    assert_int_equal(intake(&f, out, sizeof(out), later), 0);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT escalation_level FROM tickets"), 3);
    expect_event(ss, "ticket.escalated", t);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM ticket_events WHERE kind = 'escalated'"), 2);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM sla_breaches"), 2);
    /* An agent escalating by hand past level 3: a conflict. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/escalate", t);
    assert_int_equal(status_of(&f, ann, "POST", path, "{}"), 409);
    ws_free(sl);
    ws_free(ss);
    free(t);
    stop(&f);
}

static long form_post(const struct fixture *f, const char *path, const char *form, char **body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->gw.base, path);
    struct harness_response r;
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded", form, strlen(form), &r);
    long s = r.status;
    if (body)
        *body = strdup(r.body);
    harness_response_free(&r);
    return s;
}

static void test_survey_lifecycle(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_survey");
    char ann[64], sue[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "10", ann, sizeof(ann));
    add_agent(&f, "Sue", "sue@desk.test", "supervisor", "complaints", "10", sue, sizeof(sue));
    struct ws_client *ss = stream(&f, sue, 0, "away");
    /* (An API contact is acknowledged to its caller, not by mail: the survey is mail 0.) */
    char *t = contact(&f, "v1", "cust@x.test", "the app crashes");
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    assert_int_equal(harness_smtp_wait(&f.smtp, 1, WAIT_MS), 1);
    char *link = survey_path(&f.smtp, 1, NULL);
    /* The token left the outbox once sent; only its hash stays. */
    assert_int_equal(
        harness_pg_wait(
            f.pg, "SELECT count(*) FROM outbox WHERE kind = 'survey' AND payload ? 'token'", 0),
        0);

    char url[256];
    snprintf(url, sizeof(url), "%s%s", f.gw.base, link);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    if (r.status != 200)
        fprintf(stderr, "GET %s: %ld %s\n", url, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "name=\"overall\""));
    assert_non_null(strstr(r.body, t));
    harness_response_free(&r);
    /* A form with a gap comes back with the problem and stores nothing. */
    char *page = NULL;
    assert_int_equal(form_post(&f, link, "overall=5", &page), 400);
    assert_non_null(strstr(page, "every question"));
    free(page);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM surveys WHERE answered_at IS NOT NULL"), 0);
    /* A low rating: saved, and a follow-up for the supervisors due in 3 working days. */
    const char *answer = "response_speed=5&resolution_efficiency=2&attitude=5&professionalism=4"
                         "&overall=3&comment=Took+too+long+%E5%A4%AA%E6%85%A2";
    assert_int_equal(form_post(&f, link, answer, NULL), 200);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM surveys WHERE overall = 3 AND "
                               "resolution_efficiency = 2 AND comment = 'Took too long 太慢'"),
        1);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM followups WHERE queue = 'complaints' AND "
                               "closed_at IS NULL AND due_at = intake_add_working_days("
                               "created_at, 3, NULL)"),
        1);
    expect_event(ss, "followup.opened", t);
    /* The link works once. */
    assert_int_equal(form_post(&f, link, answer, NULL), 409);
    /* A forged token and a malformed one each get a page, not a 500. */
    char forged[80];
    snprintf(forged, sizeof(forged), "/s/%064d", 0);
    assert_int_equal(form_post(&f, forged, answer, NULL), 404);
    assert_int_equal(form_post(&f, "/s/not-a-token", answer, NULL), 404);

    /* The supervisor closes the follow-up with what was done. */
    long fid = harness_pg_longf(f.pg, "SELECT id FROM followups");
    snprintf(path, sizeof(path), "/v1/followups/%ld/close", fid);
    assert_int_equal(status_of(&f, sue, "POST", path, "{\"outcome\":\"called, apologised\"}"), 200);
    assert_int_equal(status_of(&f, sue, "POST", path, "{\"outcome\":\"again\"}"), 409);

    /* The customer writes again: reopened; the next resolution sends a new survey. */
    char json[256];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"v2\",\"customer\":{\"email\":\"cust@x.test\"},"
             "\"ticket\":\"%s\",\"body\":\"still broken\"}",
             t);
    harness_post_contact(&f.gw, json, &r);
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    assert_int_equal(harness_smtp_wait(&f.smtp, 2, WAIT_MS), 2);
    char *link2 = survey_path(&f.smtp, 2, link);
    assert_string_not_equal(link, link2);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM surveys"), 2);
    /* Expired: a page that says so. */
    harness_pg_exec(f.pg, "UPDATE surveys SET expires_at = now() - interval '1 second' WHERE "
                          "answered_at IS NULL");
    snprintf(url, sizeof(url), "%s%s", f.gw.base, link2);
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 410);
    assert_non_null(strstr(r.body, "expired"));
    harness_response_free(&r);
    ws_free(ss);
    free(link), free(link2), free(t);
    stop(&f);
}

/* HMAC-SHA256 of "<t>.<body>" by the openssl command, as an independent check. */
static char *openssl_hmac(const char *secret, const char *t, const char *body)
{
    char path[] = "/tmp/desk-hook-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, t, strlen(t)) == (ssize_t)strlen(t) && write(fd, ".", 1) == 1 &&
                write(fd, body, strlen(body)) == (ssize_t)strlen(body));
    close(fd);
    char cmd[256], out[256] = "";
    snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -hmac '%s' -r %s", secret, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof(out), p));
    pclose(p);
    unlink(path);
    return strndup(out, strcspn(out, " \n"));
}

static void test_queue_webhook_is_signed(void **state)
{
    (void)state;
    struct fixture f;
    struct sink hook;
    const int ok[] = {500, 200};
    sink_start(&hook, ok, 2); /* the first delivery fails: it is retried */
    char extra[256];
    snprintf(extra, sizeof(extra),
             "\"queues\":{\"technical\":{\"webhook_url\":\"http://127.0.0.1:%d/hook\","
             "\"webhook_secret\":\"queue-secret-0123456789\"}}",
             hook.port);
    start_with(&f, "desk_webhook", extra);
    char *t = contact(&f, "w1", "c@x.test", "the app crashes");
    free(contact(&f, "w2", "d@x.test", "where is my order")); /* orders: no webhook */
    assert_int_equal(sink_wait(&hook, 2, WAIT_MS), 2);
    assert_int_equal(sink_wait(&hook, 3, 1500), 2); /* once delivered, not again */
    pthread_mutex_lock(&hook.lock);
    char *headers = strdup(hook.headers[1]), *body = strdup(hook.bodies[1]);
    pthread_mutex_unlock(&hook.lock);
    assert_non_null(strstr(body, t));
    assert_non_null(strstr(body, "\"type\": \"ticket.created\""));
    const char *sig = strstr(headers, "X-Intake-Signature: t=");
    assert_non_null(sig);
    char ts[32];
    snprintf(ts, sizeof(ts), "%.*s", (int)strcspn(sig + 22, ","), sig + 22);
    const char *v1 = strstr(sig, ",v1=");
    assert_non_null(v1);
    char *expected = openssl_hmac("queue-secret-0123456789", ts, body);
    assert_int_equal(strncmp(v1 + 4, expected, 64), 0);
    free(expected), free(headers), free(body), free(t);
    stop(&f);
    sink_stop(&hook);
}

static void test_surveys_go_by_chat_and_text_in_the_customers_language(void **state)
{
    (void)state;
    struct fixture f;
    /* Business hours too: a chat's deadlines count only 09:00-18:00 on weekdays. */
    start_with(&f, "desk_survey_channels",
               "\"business_hours\":{\"timezone\":\"Asia/Shanghai\",\"start\":\"09:00\","
               "\"end\":\"18:00\"}");
    char ann[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann, sizeof(ann));

    /* A chat customer still in the conversation gets the link as a chat event. */
    struct ws_client *chat =
        ws_connect(f.gw.port, "/v1/chat", "intake-chat.v1", "http://shop.example");
    assert_non_null(chat);
    assert_true(ws_send(chat, "{\"type\":\"hello\",\"lang\":\"zh\"}"));
    free(ws_recv_type(chat, "welcome", WAIT_MS));
    assert_true(
        ws_send(chat, "{\"type\":\"message\",\"client_id\":\"m1\",\"text\":\"软件打不开了\"}"));
    char *ack = ws_recv_type(chat, "ack", WAIT_MS);
    assert_non_null(ack);
    char *ticket = harness_json_str(ack, "ticket");
    free(ack);
    assert_int_equal(
        harness_pg_longf(f.pg,
                         "SELECT count(*) FROM tickets WHERE number = '%s' AND "
                         "first_response_due_at = intake_business_add(created_at, 900, "
                         "'{\"tz\":\"Asia/Shanghai\",\"days\":[1,2,3,4,5],\"start\":"
                         "\"09:00\",\"end\":\"18:00\"}')",
                         ticket),
        1);
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", ticket);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    char *notice = NULL;
    for (int i = 0; i < 10 && !notice; i++) {
        char *ev = ws_recv_type(chat, "notice", WAIT_MS);
        assert_non_null(ev);
        if (strstr(ev, "\"notice\":\"survey\""))
            notice = ev;
        else
            free(ev);
    }
    assert_non_null(notice);
    char *url = harness_json_str(notice, "url");
    assert_non_null(strstr(url, "/s/"));
    /* The page speaks the customer's language. */
    struct harness_response r;
    char full[256];
    snprintf(full, sizeof(full), "%s%s", f.gw.base, strstr(url, "/s/"));
    harness_http("GET", full, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "满意度调查"));
    assert_non_null(strstr(r.body, "lang=\"zh\""));
    harness_response_free(&r);
    free(url), free(notice), free(ticket);
    ws_free(chat);

    /* A caller gets it by text message. */
    char *phone_ticket = missed_call(&f, "13811113333", "call-88");
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", phone_ticket);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    assert_int_equal(sink_wait(&f.sms, 2, WAIT_MS), 2);
    char *body = sms_text(&f, 1);
    assert_non_null(strstr(body, "To=+8613811113333"));
    assert_non_null(strstr(body, "/s/"));
    assert_non_null(strstr(body, phone_ticket));
    curl_free(body);
    free(phone_ticket);
    stop(&f);
}

/*
 * Typing goes both ways, across gateways, and is never stored: the customer
 * types on one gateway and the agent the ticket is assigned to hears it on a
 * stream held by another, with the ticket's number; the agent types and the
 * customer hears it. A repeat within two seconds is not passed on.
 */
/* A chat customer on the gateway at port who has written once; *ticket (malloc'd) is theirs. */
static struct ws_client *chat_customer(int port, char **ticket)
{
    struct ws_client *c = ws_connect(port, "/v1/chat", "intake-chat.v1", "http://shop.example");
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"en\"}"));
    free(ws_recv_type(c, "welcome", WAIT_MS));
    assert_true(ws_send(c, "{\"type\":\"message\",\"client_id\":\"m1\",\"text\":\"Hello?\"}"));
    char *ack = ws_recv_type(c, "ack", WAIT_MS);
    assert_non_null(ack);
    *ticket = harness_json_str(ack, "ticket");
    assert_non_null(*ticket);
    free(ack);
    return c;
}

/* The agent types on ticket; the chat customer hears it, unnumbered. */
static void agent_types(struct ws_client *agent, const char *ticket, struct ws_client *customer)
{
    char typing[128];
    snprintf(typing, sizeof(typing), "{\"type\":\"typing\",\"ticket\":\"%s\"}", ticket);
    assert_true(ws_send(agent, typing));
    char *heard = ws_recv_type(customer, "typing", WAIT_MS);
    assert_non_null(heard);
    assert_non_null(strstr(heard, "\"from\":\"agent\""));
    assert_null(strstr(heard, "\"seq\""));
    free(heard);
}

static void test_typing_reaches_the_other_side_across_gateways_unstored(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_typing");
    char ann[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann, sizeof(ann));
    struct harness_gateway other;
    harness_gateway_start_config(
        &other, f.db.url,
        "{\"channels\":{\"chat\":{\"allowed_origins\":[\"http://shop.example\"]}}}", NULL);
    struct ws_client *agent = stream(&f, ann, 0, NULL);
    char *ticket;
    struct ws_client *chat = chat_customer(other.port, &ticket);
    expect_event(agent, "ticket.assigned", ticket);

    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    char *heard = ws_recv_type(agent, "typing", WAIT_MS);
    assert_non_null(heard);
    assert_non_null(strstr(heard, "\"from\":\"customer\""));
    assert_non_null(strstr(heard, ticket));
    assert_null(strstr(heard, "\"seq\""));
    free(heard);
    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    assert_null(ws_recv_type(agent, "typing", 1000));

    /* A second customer, on a ticket of their own. */
    char *ticket2;
    struct ws_client *chat2 = chat_customer(other.port, &ticket2);
    assert_string_not_equal(ticket, ticket2);

    agent_types(agent, ticket, chat);
    /* Straight on to the other customer's ticket: heard at once, then not again so soon. */
    agent_types(agent, ticket2, chat2);
    char typing[128];
    snprintf(typing, sizeof(typing), "{\"type\":\"typing\",\"ticket\":\"%s\"}", ticket2);
    assert_true(ws_send(agent, typing));
    assert_null(ws_recv_type(chat2, "typing", 1000));
    assert_null(ws_recv_type(chat, "typing", 100));
    free(ticket2);
    ws_free(chat2);
    /*
     * The announcing connections are cut: a signal may be lost with them
     * (dropped, not delayed), and the next one gets through on a new one.
     */
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(pg_terminate_backend(pid)) FROM "
                                            "pg_stat_activity WHERE application_name = "
                                            "'intake-announce' AND datname = current_database()"),
                     2);
    usleep(2100 * 1000);
    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    usleep(2100 * 1000);
    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    heard = ws_recv_type(agent, "typing", WAIT_MS);
    assert_non_null(heard);
    assert_non_null(strstr(heard, "\"from\":\"customer\""));
    free(heard);

    assert_true(ws_send(agent, "{\"type\":\"typing\",\"ticket\":\"SR-1 OR 1=1\"}"));
    char *error = ws_recv_type(agent, "error", WAIT_MS);
    assert_non_null(error);
    assert_non_null(strstr(error, "invalid_field"));
    free(error);

    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM session_events WHERE "
                                            "event->>'type' = 'typing'"),
                     0);
    free(ticket);
    ws_free(chat);
    ws_free(agent);
    assert_int_equal(harness_gateway_stop(&other), 0);
    stop(&f);
}

/*
 * Presence counts the agent's streams on every gateway (db/0016): closing a
 * tab on one gateway leaves the agent online while another is open there
 * or elsewhere; a gateway killed outright stops renewing its streams, and
 * the sweep of the other gateway's poller takes its agents offline after
 * the lease; an open stream whose row was swept comes back by itself.
 */
static void test_presence_follows_streams_on_every_gateway(void **state)
{
    (void)state;
    const char *quick = "\"agents\":{\"stream_lease_seconds\":3},"
                        "\"escalation\":{\"scan_seconds\":1}";
    struct fixture f;
    start_with(&f, "desk_presence", quick);
    char ann[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann, sizeof(ann));
    char other_config[256];
    snprintf(other_config, sizeof(other_config), "{%s}", quick);
    struct harness_gateway other;
    harness_gateway_start_config(&other, f.db.url, other_config, NULL);

    /* A gateway of an older release (no lease in its documents) gets no row: nothing to sweep. */
    assert_int_equal(
        harness_pg_longf(f.pg,
                         "SELECT (intake_desk(jsonb_build_object('action', 'stream', 'after', 0, "
                         "'token_hash', encode(sha256('%s'), 'hex')))->>'status')::int",
                         ann),
        200);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 0);
    harness_pg_exec(f.pg, "UPDATE agents SET presence = 'offline', online = false");

    /* Two tabs: one stream on each gateway. */
    struct ws_client *here = stream(&f, ann, 0, NULL);
    struct ws_client *there = stream_at(other.port, ann, 0, NULL);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 2);

    /* The tab on this gateway closes: the other is open, so Ann stays online. */
    ws_free(here);
    assert_int_equal(harness_pg_wait(f.pg, "SELECT count(*) FROM agent_streams", 1), 1);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE presence = 'online'"), 1);
    /* Renewed beyond the lease, she still gets new work, on the other gateway's stream. */
    sleep(4);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams WHERE "
                                            "renewed_at > now() - interval '3 seconds'"),
                     1);
    char *t1 = contact(&f, "p1", "c1@x.test", "the app crashes");
    expect_event(there, "ticket.assigned", t1);

    /*
     * Every row stale and no sweep for an hour, as after a database outage
     * longer than the lease: the sweeps start over and leave the row to its
     * renewal (the same row; before, it was swept and made anew, the agent
     * offline in between).
     */
    long row = harness_pg_longf(f.pg, "SELECT id FROM agent_streams");
    harness_pg_exec(f.pg, "UPDATE agent_streams SET renewed_at = now() - interval '1 hour'; "
                          "UPDATE agent_stream_sweeps SET last_at = now() - interval '1 hour'");
    sleep(2);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT id FROM agent_streams WHERE renewed_at > "
                                            "now() - interval '3 seconds'"),
                     row);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE presence = 'online'"), 1);

    /* Its row swept while the stream is open (its gateway alone lost the database): it is back. */
    harness_pg_exec(f.pg, "DELETE FROM agent_streams");
    harness_pg_exec(f.pg, "UPDATE agents SET presence = 'offline', online = false");
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM agents a JOIN agent_streams s ON "
                                     "s.agent_id = a.id WHERE a.presence = 'online' AND a.online",
                                     1),
                     1);

    /* The other gateway dies without a word: after the lease, Ann is offline. */
    kill(other.pid, SIGKILL);
    waitpid(other.pid, NULL, 0);
    ws_free(there);
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM agents WHERE presence = "
                                     "'offline' AND NOT online",
                                     1),
                     1);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 0);
    /* New work waits for someone online instead of going to her. */
    char *t2 = contact(&f, "p2", "c2@x.test", "the app crashes again");
    assert_int_equal(
        harness_pg_longf(
            f.pg, "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id IS NULL", t2),
        1);
    free(t1), free(t2);
    stop(&f);
}

/*
 * A token replaced or an agent disabled ends the streams opened with it
 * (db/0018): a console left open must not go on receiving customers'
 * messages, nor keep its agent online for routing.
 */
static void test_revoked_token_ends_open_streams(void **state)
{
    (void)state;
    struct fixture f;
    start_with(&f, "desk_revoked",
               "\"agents\":{\"stream_lease_seconds\":3},\"escalation\":{\"scan_seconds\":1}");
    char ann[64], bob[64], out[1024];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann, sizeof(ann));
    add_agent(&f, "Bob", "bob@desk.test", "agent", "technical,general", "10", bob, sizeof(bob));
    struct ws_client *ann_old = stream(&f, ann, 0, NULL);
    struct ws_client *bob_tab = stream(&f, bob, 0, NULL);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 2);

    /* Ann gets a new token: the stream opened with the old one closes at its next renewal. */
    const char *rotate[] = {"agent", "token", "ann@desk.test", NULL};
    assert_int_equal(intake(&f, out, sizeof(out), rotate), 0);
    out[strcspn(out, "\n")] = '\0';
    char reason[128] = "";
    assert_int_equal(ws_wait_close(ann_old, WAIT_MS, reason, sizeof(reason)), 4001);
    assert_non_null(strstr(reason, "revoked"));
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams s JOIN agents a "
                                            "ON a.id = s.agent_id WHERE a.email = 'ann@desk.test'"),
                     0);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE email = "
                                            "'ann@desk.test' AND presence = 'offline'"),
                     1);
    /* The new token opens a stream that stays open past its renewals. */
    struct ws_client *ann_new = stream(&f, out, 0, NULL);
    sleep(3);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams s JOIN agents a "
                                            "ON a.id = s.agent_id WHERE a.email = 'ann@desk.test' "
                                            "AND s.renewed_at > now() - interval '2 seconds'"),
                     1);

    /* Bob is disabled: his open stream closes too, and new work is not his. */
    const char *disable[] = {"agent", "disable", "bob@desk.test", NULL};
    char said[256];
    assert_int_equal(intake(&f, said, sizeof(said), disable), 0);
    assert_int_equal(ws_wait_close(bob_tab, WAIT_MS, reason, sizeof(reason)), 4001);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 1);
    char *t1 = contact(&f, "r1", "c1@x.test", "the app crashes");
    expect_event(ann_new, "ticket.assigned", t1);
    free(t1);
    ws_free(ann_old), ws_free(bob_tab), ws_free(ann_new);
    stop(&f);
}

static void test_database_down_stream_closes_1011_and_survey_page_says_later(void **state)
{
    (void)state;
    struct harness_gateway gw;
    char dead[160];
    harness_unreachable_db_url(dead, sizeof(dead));
    harness_gateway_start_config(&gw, dead, "{}", NULL);
    /* The agent is told to come back; nothing is assumed about their presence. */
    struct ws_client *c = ws_connect(gw.port, "/v1/agent/stream", PROTOCOL, NULL);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"token\":\"any-token-0123456789\"}"));
    char reason[128];
    assert_int_equal(ws_wait_close(c, 15000, reason, sizeof(reason)), 1011);
    assert_string_equal(reason, "the gateway cannot reach its database");
    ws_free(c);
    /* A customer opening a survey link gets a page saying to try again, not an error body. */
    char url[256];
    snprintf(url, sizeof(url), "%s/s/%064d", gw.base, 7);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 503);
    assert_true(atoi(r.retry_after) >= 1);
    assert_non_null(strstr(r.body, "try again"));
    harness_response_free(&r);
    assert_int_equal(harness_gateway_stop(&gw), 0);
}

static void test_working_days_skip_the_weekend(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "desk_working_days");
    assert_int_equal(harness_migrate(db.url, NULL, 0), 0);
    PGconn *pg = harness_pg(db.url);
    /* Friday 15:00 + 3 working days = Wednesday 15:00. */
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) WHERE intake_add_working_days("
                                         "'2026-11-20 15:00+00', 3, NULL) = "
                                         "'2026-11-25 15:00+00'"),
                     1);
    /* A holiday on Monday pushes it to Thursday. */
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) WHERE intake_add_working_days("
                                         "'2026-11-20 15:00+00', 3, '{\"holidays\":"
                                         "[\"2026-11-23\"]}') = '2026-11-26 15:00+00'"),
                     1);
    /* Business hours 09:00-18:00 Shanghai: Friday 17:00 + 2 h = Monday 10:00. */
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) WHERE intake_business_add("
                                         "'2026-11-20 17:00+08', 7200, '{\"tz\":\"Asia/Shanghai\","
                                         "\"days\":[1,2,3,4,5],\"start\":\"09:00\",\"end\":"
                                         "\"18:00\"}') = '2026-11-23 10:00+08'"),
                     1);
    PQfinish(pg);
    harness_db_drop(&db);
}

static void test_api_refusals(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "desk_refusals");
    char ann[64], bob[64];
    add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "10", ann, sizeof(ann));
    add_agent(&f, "Bob", "bob@desk.test", "agent", "orders", "10", bob, sizeof(bob));
    char *t = contact(&f, "x1", "c@x.test", "the app crashes");
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s", t);
    struct harness_response r = call(&f, NULL, "GET", path, NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www_auth, "Bearer");
    harness_response_free(&r);
    assert_int_equal(status_of(&f, "wrong-token", "GET", path, NULL), 401);
    assert_int_equal(status_of(&f, bob, "GET", path, NULL), 403);
    assert_int_equal(status_of(&f, ann, "GET", path, NULL), 200);
    assert_int_equal(status_of(&f, HARNESS_TOKEN, "GET", path, NULL), 200);
    assert_int_equal(status_of(&f, ann, "GET", "/v1/tickets/SR-999999", NULL), 404);
    assert_int_equal(status_of(&f, ann, "GET", "/v1/tickets?priority=huge", NULL), 400);
    assert_int_equal(status_of(&f, ann, "GET", "/v1/tickets?colour=red", NULL), 400);
    snprintf(path, sizeof(path), "/v1/tickets/%s/replies", t);
    r = call(&f, ann, "POST", path, "{\"txt\":\"hi\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "txt"));
    harness_response_free(&r);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"text\":\"  \"}"), 400);
    snprintf(path, sizeof(path), "/v1/tickets/%s/claim", t);
    assert_int_equal(status_of(&f, ann, "POST", path, "{}"), 200);
    /* Claimed by Ann: a supervisor-less colleague cannot take it. */
    harness_pg_exec(f.pg, "INSERT INTO agent_queues VALUES ((SELECT id FROM agents WHERE name = "
                          "'Bob'), 'technical')");
    assert_int_equal(status_of(&f, bob, "POST", path, "{}"), 409);
    snprintf(path, sizeof(path), "/v1/tickets/%s/transfer", t);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"agent\":\"nobody@desk.test\"}"), 400);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"agent\":\"bob@desk.test\"}"), 200);
    assert_int_equal(harness_pg_longf(f.pg,
                                      "SELECT count(*) FROM tickets t JOIN agents a ON a.id = "
                                      "t.assignee_id WHERE a.name = 'Bob'"),
                     1);
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"status\":\"closed\"}"), 200);
    assert_int_equal(status_of(&f, ann, "POST", path, "{\"status\":\"open\"}"), 409);
    free(t);
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignment_follows_presence_load_and_capacity),
        cmocka_unit_test(test_stream_resumes_after_the_last_event_seen),
        cmocka_unit_test(test_concurrent_contacts_are_assigned_once_within_capacity),
        cmocka_unit_test(test_replies_go_back_by_mail_threaded_and_by_text),
        cmocka_unit_test(test_breached_clocks_escalate_to_the_next_tier),
        cmocka_unit_test(test_survey_lifecycle),
        cmocka_unit_test(test_queue_webhook_is_signed),
        cmocka_unit_test(test_surveys_go_by_chat_and_text_in_the_customers_language),
        cmocka_unit_test(test_typing_reaches_the_other_side_across_gateways_unstored),
        cmocka_unit_test(test_presence_follows_streams_on_every_gateway),
        cmocka_unit_test(test_revoked_token_ends_open_streams),
        cmocka_unit_test(test_database_down_stream_closes_1011_and_survey_page_says_later),
        cmocka_unit_test(test_working_days_skip_the_weekend),
        cmocka_unit_test(test_api_refusals),
    };
    /* Before any thread: libcurl's global set-up is not thread-safe. */
    curl_global_init(CURL_GLOBAL_ALL);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
