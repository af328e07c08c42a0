/*
 * The desk end to end, what agents do with a ticket through the REST API:
 * replies that go back over the customer's own channel (mail through the
 * real SMTP server, threaded, sent once per key; a text message to a
 * caller), claims, transfers and status changes, and the refusals (no or
 * a wrong token, another queue, bad fields, a conflict).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk_env.h"

/* The first of the first n mails containing needle (malloc'd); fails the test if none. */
static char *mail_with(struct harness_smtp *smtp, int n, const char *needle)
{
    for (int i = 0; i < n; i++) {
        char *msg = desk_env_mail_text(smtp, i);
        if (strstr(msg, needle))
            return msg;
        free(msg);
    }
    fail_msg("no mail contains \"%s\"", needle);
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
    struct desk_env f;
    desk_env_start(&f, "desk_reply", NULL);
    char ann[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann,
                       sizeof(ann));

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
    assert_int_equal(harness_smtp_wait(&f.smtp, 1, DESK_WAIT_MS), 1); /* the acknowledgement */

    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/replies", ticket);
    r = desk_env_call(&f, ann, "POST", path,
                      "{\"text\":\"Please restart the printer.\",\"key\":\"k1\"}");
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
    /* The same key again: stored once, sent once. */
    assert_int_equal(desk_env_status(&f, ann, "POST", path,
                                     "{\"text\":\"Please restart the printer.\",\"key\":\"k1\"}"),
                     200);
    assert_int_equal(harness_smtp_wait(&f.smtp, 2, DESK_WAIT_MS), 2);
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
    char *phone_ticket = desk_env_missed_call(&f, "13811112222", "call-77");
    snprintf(path, sizeof(path), "/v1/tickets/%s/replies", phone_ticket);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"text\":\"Calling you at 3pm\"}"),
                     201);
    assert_int_equal(sink_wait(&f.sms, 2, DESK_WAIT_MS), 2);
    char *body = desk_env_sms_text(&f, 1);
    assert_non_null(strstr(body, "To=+8613811112222"));
    assert_non_null(strstr(body, "Calling you at 3pm"));
    assert_non_null(strstr(body, phone_ticket));
    curl_free(body);
    free(phone_ticket);
    desk_env_stop(&f);
}

static void test_api_refusals(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_refusals", NULL);
    char ann[64], bob[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "10", ann, sizeof(ann));
    desk_env_add_agent(&f, "Bob", "bob@desk.test", "agent", "orders", "10", bob, sizeof(bob));
    char *t = desk_env_contact(&f, "x1", "c@x.test", "the app crashes");
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s", t);
    struct harness_response r = desk_env_call(&f, NULL, "GET", path, NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www_auth, "Bearer");
    harness_response_free(&r);
    assert_int_equal(desk_env_status(&f, "wrong-token", "GET", path, NULL), 401);
    assert_int_equal(desk_env_status(&f, bob, "GET", path, NULL), 403);
    assert_int_equal(desk_env_status(&f, ann, "GET", path, NULL), 200);
    assert_int_equal(desk_env_status(&f, HARNESS_TOKEN, "GET", path, NULL), 200);
    assert_int_equal(desk_env_status(&f, ann, "GET", "/v1/tickets/SR-999999", NULL), 404);
    assert_int_equal(desk_env_status(&f, ann, "GET", "/v1/tickets?priority=huge", NULL), 400);
    assert_int_equal(desk_env_status(&f, ann, "GET", "/v1/tickets?colour=red", NULL), 400);
    snprintf(path, sizeof(path), "/v1/tickets/%s/replies", t);
    r = desk_env_call(&f, ann, "POST", path, "{\"txt\":\"hi\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "txt"));
    harness_response_free(&r);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"text\":\"  \"}"), 400);
    snprintf(path, sizeof(path), "/v1/tickets/%s/claim", t);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{}"), 200);
    /* Claimed by Ann: a supervisor-less colleague cannot take it. */
    harness_pg_exec(f.pg, "INSERT INTO agent_queues VALUES ((SELECT id FROM agents WHERE name = "
                          "'Bob'), 'technical')");
    assert_int_equal(desk_env_status(&f, bob, "POST", path, "{}"), 409);
    snprintf(path, sizeof(path), "/v1/tickets/%s/transfer", t);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"agent\":\"nobody@desk.test\"}"),
                     400);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"agent\":\"bob@desk.test\"}"), 200);
    assert_int_equal(harness_pg_longf(f.pg,
                                      "SELECT count(*) FROM tickets t JOIN agents a ON a.id = "
                                      "t.assignee_id WHERE a.name = 'Bob'"),
                     1);
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"status\":\"closed\"}"), 200);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"status\":\"open\"}"), 409);
    free(t);
    desk_env_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replies_go_back_by_mail_threaded_and_by_text),
        cmocka_unit_test(test_api_refusals),
    };
    return cmocka_run_group_tests_name("desk actions", tests, NULL, NULL);
}
