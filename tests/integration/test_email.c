/*
 * The email channel end to end, with a real SMTP server (aiosmtpd) on
 * loopback receiving the acknowledgements: HTTP inbound route, MTA pipe exit
 * codes, each threading rule, sender mismatch, reopen, each loop rule, the
 * per-sender ack limit, and an SMTP server that is down and then comes up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

struct fixture {
    struct harness_smtp smtp;
    struct harness_env env;
};

static int setup(void **state)
{
    static struct fixture f;
    harness_smtp_start(&f.smtp, 0);
    char cfg[512];
    snprintf(cfg, sizeof(cfg),
             "{\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"no\"},"
             "\"outbox\":{\"backoff_seconds\":1,\"poll_ms\":100,\"max_attempts\":20},"
             "\"channels\":{\"email\":{\"from_address\":\"help@desk.example\","
             "\"from_name\":\"Help Desk\",\"acks_per_sender_per_hour\":2}}}",
             f.smtp.port);
    *state = &f;
    return harness_env_setup(&f.env, "email", cfg);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    harness_smtp_stop(&f->smtp);
    return harness_env_teardown(&f->env);
}

/* POSTs a raw message; returns the response body (caller frees); checks the status. */
__attribute__((format(printf, 3, 4))) static char *inbound(struct fixture *f, long expect,
                                                           const char *fmt, ...)
{
    char raw[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", f->env.gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", raw, strlen(raw), &r);
    if (r.status != expect)
        fail_msg("expected %ld, got %ld: %s", expect, r.status, r.body);
    return r.body;
}

static char *ticket_of(const char *body)
{
    char *t = harness_json_str(body, "ticket");
    assert_non_null(t);
    return t;
}

__attribute__((format(printf, 2, 3))) static long sqlf(struct fixture *f, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return harness_pg_long(f->env.pg, sql);
}

/* Waits until the SQL yields want (10 s at most). */
static long wait_sql(struct fixture *f, long want, const char *sql)
{
    long v = -1;
    for (int i = 0; i < 100 && v != want; i++) {
        v = harness_pg_long(f->env.pg, sql);
        if (v != want)
            usleep(100 * 1000);
    }
    return v;
}

/* The value of a header in a received message (first occurrence), malloc'd. */
static char *header_of(const char *msg, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (*p == '\r' || *p == '\n')
            break;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            return strndup(v, strcspn(v, "\r\n"));
        }
    }
    return NULL;
}

static void test_inbound_acknowledged_by_smtp_as_a_reply(void **state)
{
    struct fixture *f = *state;
    int before = harness_smtp_wait(&f->smtp, 0, 0);
    char *body = inbound(f, 201,
                         "From: =?UTF-8?B?5byg5LiJ?= <zhang.san@example.cn>\r\n"
                         "To: help@desk.example\r\n"
                         "Subject: =?UTF-8?B?6K6i5Y2V5rKh5pS25Yiw?=\r\n"
                         "Message-ID: <first@example.cn>\r\n"
                         "Content-Type: text/plain; charset=gb2312\r\n\r\n"
                         "\xce\xd2\xb5\xc4\xb6\xa9\xb5\xa5\xbb\xb9\xc3\xbb\xd3\xd0\xb5\xbd\r\n");
    char *ticket = ticket_of(body);
    assert_int_equal(harness_smtp_wait(&f->smtp, before + 1, 10000), before + 1);
    char *ack = harness_smtp_message(&f->smtp, before);
    assert_non_null(ack);
    char *irt = header_of(ack, "In-Reply-To"), *auto_sub = header_of(ack, "Auto-Submitted");
    char *loop = header_of(ack, "X-Intake-Loop"), *to = header_of(ack, "X-RcptTo");
    assert_string_equal(irt, "<first@example.cn>");
    assert_string_equal(auto_sub, "auto-replied");
    assert_string_equal(loop, ticket);
    assert_string_equal(to, "zhang.san@example.cn");
    assert_non_null(strstr(ack, "multipart/alternative"));
    /* The stored text was decoded from GB2312; the answer is in Chinese. */
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM messages WHERE external_ref = 'first@example.cn' "
                          "AND body LIKE '我的订单%%'"),
                     1);
    assert_int_equal(
        sqlf(f, "SELECT count(*) FROM tickets WHERE number = '%s' AND language = 'zh'", ticket), 1);
    /* The sent ack is on the ticket as an outbound message. */
    assert_int_equal(wait_sql(f, 1,
                              "SELECT count(*) FROM messages WHERE direction = 'out' AND "
                              "external_ref LIKE 'ack.%%'"),
                     1);
    free(irt), free(auto_sub), free(loop), free(to), free(ack), free(ticket), free(body);
}

static void test_threading_rules(void **state)
{
    struct fixture *f = *state;
    char *b1 = inbound(f, 201,
                       "From: Ann <ann@example.org>\r\nSubject: Printer on fire\r\n"
                       "Message-ID: <t1@example.org>\r\n\r\nIt smokes.\r\n");
    char *t1 = ticket_of(b1);
    /* 1. In-Reply-To naming our acknowledgement (sent and recorded by us). */
    assert_int_equal(wait_sql(f, 1,
                              "SELECT count(*) FROM messages m JOIN tickets t ON t.id = "
                              "m.ticket_id WHERE m.direction = 'out' AND t.number = (SELECT "
                              "t2.number FROM tickets t2 JOIN messages m2 ON m2.ticket_id = t2.id "
                              "WHERE m2.external_ref = 't1@example.org')"),
                     1);
    char *ack_id = harness_pg_text(f->env.pg, "SELECT m.external_ref FROM messages m JOIN messages "
                                              "o ON o.ticket_id = m.ticket_id WHERE o.external_ref "
                                              "= 't1@example.org' AND m.direction = 'out'");
    char *b2 =
        inbound(f, 201,
                "From: ann@example.org\r\nSubject: Re: whatever\r\n"
                "Message-ID: <t2@example.org>\r\nIn-Reply-To: <%s>\r\n\r\nStill smoking.\r\n",
                ack_id);
    char *t2 = ticket_of(b2);
    assert_string_equal(t1, t2);
    /* 2. References naming the customer's own earlier message. */
    char *b3 = inbound(f, 201,
                       "From: ann@example.org\r\nSubject: more\r\nMessage-ID: <t3@example.org>\r\n"
                       "References: <unknown@x> <t1@example.org>\r\n\r\nPhoto attached.\r\n");
    char *t3 = ticket_of(b3);
    assert_string_equal(t1, t3);
    /* 3. The ticket tag in the subject, no references. */
    char *b4 = inbound(f, 201,
                       "From: ann@example.org\r\nSubject: Re: [%s] Printer\r\n"
                       "Message-ID: <t4@example.org>\r\n\r\nAny news?\r\n",
                       t1);
    char *t4 = ticket_of(b4);
    assert_string_equal(t1, t4);
    /* 4. Someone else replying to Ann's thread gets a ticket of their own. */
    char *b5 =
        inbound(f, 201,
                "From: mallory@example.net\r\nSubject: Re: [%s] Printer\r\n"
                "Message-ID: <t5@example.net>\r\nIn-Reply-To: <t1@example.org>\r\n\r\nhi\r\n",
                t1);
    char *t5 = ticket_of(b5);
    assert_string_not_equal(t1, t5);
    /* 4b. A colleague copied on Ann's first message may reply on her ticket. */
    char *c1 = inbound(f, 201,
                       "From: Bob <bob@example.org>\r\nTo: help@desk.example\r\n"
                       "Cc: Carol <Carol@Example.org>\r\nSubject: Scanner jam\r\n"
                       "Message-ID: <cc1@example.org>\r\n\r\nThe scanner jams.\r\n");
    char *tc1 = ticket_of(c1);
    char *c2 = inbound(f, 201,
                       "From: carol@example.org\r\nSubject: Re: Scanner jam\r\n"
                       "Message-ID: <cc2@example.org>\r\nIn-Reply-To: <cc1@example.org>\r\n\r\n"
                       "It is the tray.\r\n");
    char *tc2 = ticket_of(c2);
    assert_string_equal(tc1, tc2);
    free(tc1), free(tc2), free(c1), free(c2);
    /* 5. The same Message-ID again is the same message. */
    char *b6 = inbound(f, 200,
                       "From: ann@example.org\r\nSubject: more\r\nMessage-ID: <t3@example.org>\r\n"
                       "References: <t1@example.org>\r\n\r\nPhoto attached.\r\n");
    assert_true(harness_json_bool(b6, "duplicate"));
    assert_int_equal(sqlf(f, "SELECT count(*) FROM messages WHERE external_ref = 't3@example.org'"),
                     1);
    /* 6. A resolved ticket is reopened by a reply. */
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE tickets SET status = 'resolved' WHERE number = '%s'", t1);
    harness_pg_exec(f->env.pg, sql);
    char *b7 = inbound(f, 201,
                       "From: ann@example.org\r\nSubject: Re: [%s] Printer\r\n"
                       "Message-ID: <t7@example.org>\r\n\r\nIt is back.\r\n",
                       t1);
    char *t7 = ticket_of(b7);
    assert_string_equal(t1, t7);
    assert_int_equal(
        sqlf(f, "SELECT count(*) FROM tickets WHERE number = '%s' AND status = 'open'", t1), 1);
    free(ack_id);
    free(t1), free(t2), free(t3), free(t4), free(t5), free(t7);
    free(b1), free(b2), free(b3), free(b4), free(b5), free(b6), free(b7);
}

/* A delivery report about our acknowledgement lands on that ticket, not a new one. */
static void test_bounce_recorded_on_its_ticket(void **state)
{
    struct fixture *f = *state;
    char *b = inbound(f, 201,
                      "From: gone@example.org\r\nSubject: hello\r\n"
                      "Message-ID: <bounce-origin@example.org>\r\n\r\nplease help\r\n");
    char *ticket = ticket_of(b);
    assert_int_equal(wait_sql(f, 1,
                              "SELECT count(*) FROM messages m JOIN messages o ON o.ticket_id = "
                              "m.ticket_id WHERE o.external_ref = 'bounce-origin@example.org' AND "
                              "m.direction = 'out'"),
                     1);
    char *ack_id =
        harness_pg_text(f->env.pg, "SELECT m.external_ref FROM messages m JOIN messages "
                                   "o ON o.ticket_id = m.ticket_id WHERE o.external_ref "
                                   "= 'bounce-origin@example.org' AND m.direction = 'out'");
    char *dsn = inbound(f, 201,
                        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
                        "Subject: Undelivered Mail Returned to Sender\r\n"
                        "Message-ID: <dsn1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
                        "Content-Type: multipart/report; report-type=delivery-status; "
                        "boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
                        "Your message could not be delivered.\r\n--b\r\n"
                        "Content-Type: message/delivery-status\r\n\r\n"
                        "Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\n"
                        "Status: 5.1.1\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                        "From: help@desk.example\r\nTo: gone@example.org\r\n"
                        "Message-ID: <%s>\r\nSubject: [%s] Re: hello\r\n\r\n--b--\r\n",
                        ack_id, ticket);
    char *t2 = ticket_of(dsn);
    assert_string_equal(ticket, t2);
    assert_false(harness_json_bool(dsn, "new_ticket"));
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = "
                          "e.ticket_id WHERE t.number = '%s' AND e.kind = 'bounce'",
                          ticket),
                     1);
    /* No customer was made for the mail system. */
    assert_int_equal(sqlf(f, "SELECT count(*) FROM customer_identities WHERE value = "
                             "'mailer-daemon@mx.example.org'"),
                     0);
    free(ack_id), free(ticket), free(t2), free(b), free(dsn);
}

/* Attachments are recorded with name, type, size and SHA-256; the raw mail is kept. */
static void test_attachments_stored_with_digest(void **state)
{
    struct fixture *f = *state;
    /* "hello world" in base64; its SHA-256 is b94d27b9...cde9. */
    char *b = inbound(f, 201,
                      "From: files@example.com\r\nSubject: invoice\r\n"
                      "Message-ID: <att1@example.com>\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n"
                      "Content-Type: text/plain\r\n\r\nsee attached\r\n--x\r\n"
                      "Content-Type: application/pdf; name=\"inv.pdf\"\r\n"
                      "Content-Disposition: attachment; filename=\"inv.pdf\"\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--x--\r\n");
    assert_int_equal(
        sqlf(f, "SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id "
                "WHERE m.external_ref = 'att1@example.com' AND a.filename = 'inv.pdf' AND "
                "a.content_type = 'application/pdf' AND a.size_bytes = 11 AND encode(a.sha256, "
                "'hex') = 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9'"),
        1);
    assert_int_equal(sqlf(f, "SELECT count(*) FROM message_sources s JOIN messages m ON m.id = "
                             "s.message_id WHERE m.external_ref = 'att1@example.com' AND "
                             "position('aGVsbG8gd29ybGQ=' in convert_from(s.raw, 'UTF8')) > 0"),
                     1);
    free(b);
}

static void test_loop_rules_register_without_ack(void **state)
{
    struct fixture *f = *state;
    static const char *const cases[] = {
        "From: bot@example.com\r\nAuto-Submitted: auto-replied\r\n",
        "From: news@example.com\r\nPrecedence: bulk\r\n",
        "From: list@example.com\r\nList-Id: <talk.example.com>\r\n",
        "From: someone@example.com\r\nReturn-Path: <>\r\n",
        "From: MAILER-DAEMON@example.com\r\n",
        "From: desk@example.com\r\nX-Intake-Loop: SR-000001\r\n",
        "From: Help Desk <help@desk.example>\r\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *b =
            inbound(f, 201, "%sSubject: out of office\r\nMessage-ID: <loop%zu@x>\r\n\r\nbye\r\n",
                    cases[i], i);
        char *t = ticket_of(b);
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM outbox WHERE kind = 'ack' AND dedupe_key = "
                 "'ack:email:loop%zu@x'",
                 i);
        assert_int_equal(harness_pg_long(f->env.pg, sql), 0);
        assert_int_equal(
            sqlf(f,
                 "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = "
                 "e.ticket_id WHERE t.number = '%s' AND e.detail->>'no_ack' IS NOT NULL",
                 t),
            1);
        free(t);
        free(b);
    }
}

static void test_acks_per_sender_are_limited(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 3; i++) {
        char *b = inbound(f, 201,
                          "From: eager@example.com\r\nSubject: question %d\r\n"
                          "Message-ID: <eager%d@example.com>\r\n\r\nhello %d\r\n",
                          i, i, i);
        free(b);
        /* One at a time, so the limit sees the previous acks as sent. */
        char sql[200];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:email:eager%d@example.com' "
                 "AND status IN ('sent', 'skipped')",
                 i);
        assert_int_equal(wait_sql(f, 1, sql), 1);
    }
    assert_int_equal(sqlf(f, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = 'sent' "
                             "AND payload->>'reply_handle' = 'eager@example.com'"),
                     2);
    assert_int_equal(sqlf(f, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = "
                             "'skipped' AND last_error LIKE '%%rate limited%%'"),
                     1);
}

static void test_smtp_down_then_up_delivers_once(void **state)
{
    struct fixture *f = *state;
    int port = f->smtp.port;
    harness_smtp_stop(&f->smtp);
    char *b = inbound(f, 201,
                      "From: patient@example.com\r\nSubject: hello\r\n"
                      "Message-ID: <down1@example.com>\r\n\r\nare you there?\r\n");
    /* Refused while the server is away: attempts pile up with the reason. */
    assert_int_equal(wait_sql(f, 1,
                              "SELECT count(*) FROM outbox WHERE dedupe_key = "
                              "'ack:email:down1@example.com' AND attempts >= 1 AND last_error "
                              "IS NOT NULL AND status = 'pending'"),
                     1);
    struct harness_smtp again;
    harness_smtp_start(&again, port);
    int before = harness_smtp_wait(&again, 0, 0);
    f->smtp = again;
    assert_int_equal(wait_sql(f, 1,
                              "SELECT count(*) FROM outbox WHERE dedupe_key = "
                              "'ack:email:down1@example.com' AND status = 'sent'"),
                     1);
    /* Exactly one copy arrives, however many attempts it took. */
    int n = harness_smtp_wait(&f->smtp, before + 2, 3000);
    int copies = 0;
    for (int i = 0; i < n; i++) {
        char *m = harness_smtp_message(&f->smtp, i);
        if (m && strstr(m, "<down1@example.com>"))
            copies++;
        free(m);
    }
    assert_int_equal(copies, 1);
    free(b);
}

static void test_inbound_errors_and_pipe_exit_codes(void **state)
{
    struct fixture *f = *state;
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", f->env.gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "application/json", "{}", 2, &r);
    assert_int_equal(r.status, 415);
    harness_response_free(&r);
    harness_http("POST", url, NULL, "message/rfc822", "x", 1, &r);
    assert_int_equal(r.status, 401);
    harness_response_free(&r);

    char out[1024];
    const char *mail =
        "From: pipe@example.com\r\nSubject: via pipe\r\nMessage-ID: <p1@x>\r\n\r\nhi\r\n";
    assert_int_equal(harness_ingest_email(f->env.db.url, mail, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "SR-"));
    /* Delivered twice by the MTA: still one message, and still success. */
    assert_int_equal(harness_ingest_email(f->env.db.url, mail, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "duplicate"));
    assert_int_equal(sqlf(f, "SELECT count(*) FROM messages WHERE external_ref = 'p1@x'"), 1);
    /* Nothing to store at all: a permanent refusal. */
    assert_int_equal(harness_ingest_email(f->env.db.url, "", out, sizeof(out)), 65);
    /* The database away: the MTA must keep the message and retry. */
    char dead[128];
    snprintf(dead, sizeof(dead), "postgresql://postgres@127.0.0.1:%d/x", harness_free_port());
    assert_int_equal(harness_ingest_email(dead, mail, out, sizeof(out)), 75);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbound_acknowledged_by_smtp_as_a_reply),
        cmocka_unit_test(test_threading_rules),
        cmocka_unit_test(test_loop_rules_register_without_ack),
        cmocka_unit_test(test_bounce_recorded_on_its_ticket),
        cmocka_unit_test(test_attachments_stored_with_digest),
        cmocka_unit_test(test_acks_per_sender_are_limited),
        cmocka_unit_test(test_smtp_down_then_up_delivers_once),
        cmocka_unit_test(test_inbound_errors_and_pipe_exit_codes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
