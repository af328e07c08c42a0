/*
 * The report by mail through a real SMTP server (aiosmtpd), with two
 * gateways running on one database: once the month is over, each recipient
 * gets exactly one message for it, the HTML report with the month's CSV
 * attached (read back with GMime: the attachment's rows are the month's
 * tickets), and the mailings are recorded once each.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "harness.h"

static struct harness_db db;
static struct harness_smtp smtp;
static char period[8];

/* Two tickets last month (UTC), one this month (not in the report). */
static const char fixture_sql[] =
    "INSERT INTO customers (id, number) OVERRIDING SYSTEM VALUE VALUES (801, 'C-000801');"
    "INSERT INTO tickets (number, customer_id, channel, category, priority, queue, language,"
    "  created_at, first_response_due_at, handling_due_at, resolution_due_at, resolved_at,"
    "  status) SELECT n, 801, 'email', 'order', 'normal', 'orders', 'en', t, t + interval '15 min',"
    "  t + interval '1 day', t + interval '1 day', t + interval '1 hour', 'resolved'"
    "  FROM (VALUES ('RM-1', date_trunc('month', now()) - interval '20 days'),"
    "               ('RM-2', date_trunc('month', now()) - interval '10 days'),"
    "               ('RM-NOW', date_trunc('month', now()) + interval '1 minute')) x(n, t)";

static int setup(void **state)
{
    (void)state;
    g_mime_init();
    harness_db_create(&db, "report_mail");
    if (harness_migrate(db.url, NULL, 0) != 0)
        return -1;
    PGconn *c = harness_pg(db.url);
    harness_pg_exec(c, "SET TIME ZONE 'UTC'");
    harness_pg_exec(c, fixture_sql);
    char *p = harness_pg_text(c, "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') "
                                 "- interval '1 month', 'YYYY-MM')");
    snprintf(period, sizeof(period), "%s", p);
    free(p);
    PQfinish(c);
    harness_smtp_start(&smtp, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_smtp_stop(&smtp);
    harness_db_drop(&db);
    return 0;
}

/* The decoded content of the message's attachment, and its file name (g_free both). */
static char *attachment_of(const char *raw, char **filename)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, strlen(raw));
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
    assert_non_null(m);
    GMimeObject *top = g_mime_message_get_mime_part(m);
    assert_true(GMIME_IS_MULTIPART(top));
    char *content = NULL;
    *filename = NULL;
    for (int i = 0; i < g_mime_multipart_get_count(GMIME_MULTIPART(top)); i++) {
        GMimeObject *part = g_mime_multipart_get_part(GMIME_MULTIPART(top), i);
        if (!GMIME_IS_PART(part) || !g_mime_part_is_attachment(GMIME_PART(part)))
            continue;
        *filename = g_strdup(g_mime_part_get_filename(GMIME_PART(part)));
        GMimeStream *out = g_mime_stream_mem_new();
        g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(part)), out);
        GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
        content = g_strndup((const char *)bytes->data, bytes->len);
        g_object_unref(out);
    }
    g_object_unref(m);
    g_object_unref(parser);
    g_object_unref(stream);
    return content;
}

static void test_each_recipient_gets_the_month_once(void **state)
{
    (void)state;
    char config[1024];
    snprintf(config, sizeof(config),
             "{\"smtp\": {\"url\": \"smtp://127.0.0.1:%d\", \"starttls\": \"no\"},"
             " \"escalation\": {\"scan_seconds\": 1},"
             " \"reports\": {\"recipients\": [\"lead@example.com\", \"boss@example.com\"],"
             "  \"from\": \"desk@example.com\", \"schedule\": \"monthly:1\","
             "  \"timezone\": \"UTC\", \"language\": \"zh\"}}",
             smtp.port);
    struct harness_gateway a, b;
    harness_gateway_start_config(&a, db.url, config, NULL);
    harness_gateway_start_config(&b, db.url, config, NULL);
    assert_int_equal(harness_smtp_wait(&smtp, 2, 20000), 2);
    /* Both gateways take several more turns: nothing more goes out. */
    sleep(4);
    assert_int_equal(harness_gateway_stop(&a), 0);
    assert_int_equal(harness_gateway_stop(&b), 0);
    assert_int_equal(harness_smtp_wait(&smtp, 3, 0), 2);

    bool lead = false, boss = false;
    for (int i = 0; i < 2; i++) {
        char *raw = harness_smtp_message(&smtp, i);
        assert_non_null(raw);
        lead |= strstr(raw, "To: lead@example.com") != NULL;
        boss |= strstr(raw, "To: boss@example.com") != NULL;
        assert_non_null(strstr(raw, "Content-Type: text/html"));
        char *filename = NULL, *csv = attachment_of(raw, &filename);
        char expected[64];
        snprintf(expected, sizeof(expected), "report-%s.csv", period);
        assert_string_equal(filename, expected);
        assert_non_null(csv);
        assert_non_null(strstr(csv, "ticket,created,channel"));
        assert_non_null(strstr(csv, "\r\nRM-1,"));
        assert_non_null(strstr(csv, "\r\nRM-2,"));
        assert_null(strstr(csv, "RM-NOW"));
        g_free(filename);
        g_free(csv);
        free(raw);
    }
    assert_true(lead && boss);
    PGconn *c = harness_pg(db.url);
    char want[128];
    snprintf(want, sizeof(want), "%s boss@example.com,%s lead@example.com", period, period);
    char *got = harness_pg_text(c, "SELECT string_agg(period || ' ' || recipient, ',' "
                                   "ORDER BY recipient) FROM report_mailings");
    assert_string_equal(got, want);
    free(got);
    assert_int_equal(
        harness_pg_long(c, "SELECT count(*) FROM outbox WHERE kind = 'mail' AND status = 'sent'"),
        2);
    PQfinish(c);
}

/* check-config names every wrong "reports" setting (exit 78). */
static void test_bad_settings_are_named(void **state)
{
    (void)state;
    char path[] = "/tmp/intake-reports-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *bad = "{\"reports\": {\"recipients\": [\"lead@example.com\", \"not an address\"],"
                      " \"schedule\": \"monthly:31\", \"language\": \"fr\", \"cache_seconds\": -1,"
                      " \"colour\": \"red\"}}";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    char cmd[512], out[8192];
    snprintf(cmd, sizeof(cmd), "env -u INTAKE_CONFIG %s --config %s check-config 2>&1",
             INTAKE_BINARY, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    unlink(path);
    assert_int_equal(WEXITSTATUS(st), 78);
    assert_non_null(strstr(out, "reports.recipients[1]: must be a mail address"));
    assert_non_null(strstr(out, "reports.schedule: must be"));
    assert_non_null(strstr(out, "reports.language: must be"));
    assert_non_null(strstr(out, "reports.cache_seconds: must be"));
    assert_non_null(strstr(out, "reports.from: the sender"));
    assert_non_null(strstr(out, "reports.colour"));
    assert_null(strstr(out, "lead@example.com"));
}

/*
 * The month falls due while the mail server is away: each recipient's mail
 * is queued once, retried, and delivered once when the server is back; no
 * second mailing is made for the period meanwhile.
 */
static void test_mail_server_away_when_due(void **state)
{
    (void)state;
    PGconn *c = harness_pg(db.url);
    harness_pg_exec(c, "DELETE FROM report_mailings; DELETE FROM outbox");
    int port = harness_free_port(); /* nobody listens there yet */
    char config[1024];
    snprintf(config, sizeof(config),
             "{\"smtp\": {\"url\": \"smtp://127.0.0.1:%d\", \"starttls\": \"no\"},"
             " \"outbox\": {\"backoff_seconds\": 1},"
             " \"escalation\": {\"scan_seconds\": 1},"
             " \"reports\": {\"recipients\": [\"lead@example.com\", \"boss@example.com\"],"
             "  \"from\": \"desk@example.com\", \"schedule\": \"monthly:1\","
             "  \"timezone\": \"UTC\"}}",
             port);
    struct harness_gateway gw;
    harness_gateway_start_config(&gw, db.url, config, NULL);
    /* Queued, and tried at least twice against the closed port. */
    int tries = 0;
    for (; tries < 200; tries++) {
        if (harness_pg_long(c, "SELECT count(*) FROM outbox WHERE kind = 'mail' AND attempts >= 2 "
                               "AND status <> 'sent'") == 2)
            break;
        usleep(100 * 1000);
    }
    if (tries == 200)
        fail_msg("the report mails were not queued and retried while the server was away");
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM report_mailings"), 2);

    struct harness_smtp back;
    harness_smtp_start(&back, port);
    assert_int_equal(harness_smtp_wait(&back, 2, 30000), 2);
    sleep(2); /* more turns of the poller and the outbox: nothing more goes out */
    assert_int_equal(harness_gateway_stop(&gw), 0);
    assert_int_equal(harness_smtp_wait(&back, 3, 0), 2);
    harness_smtp_stop(&back);
    assert_int_equal(harness_pg_long(c, "SELECT count(*) FROM report_mailings"), 2);
    assert_int_equal(
        harness_pg_long(c, "SELECT count(*) FROM outbox WHERE kind = 'mail' AND status = 'sent'"),
        2);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_recipient_gets_the_month_once),
        cmocka_unit_test(test_bad_settings_are_named),
        cmocka_unit_test(test_mail_server_away_when_due),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
