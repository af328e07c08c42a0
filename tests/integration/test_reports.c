/*
 * `intake report` on a fixture month whose every figure is worked out by hand
 * below: November 2026 in Asia/Shanghai, six tickets across four channels
 * (one created half an hour into the month there, which is still October in
 * UTC; one created just before it, which is not in the month), deadlines met
 * and missed, surveys answered inside and outside the month, follow-ups
 * closed early, late and never. Each format, a queue, and every refusal.
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
#include <jansson.h>

#include "harness.h"

#define AS_OF "2026-12-05T00:00:00Z"

/* The fixture's rows. Times are Shanghai's (+08) unless they say Z. */
static const char fixture_sql[] =
    "INSERT INTO agents (id, name, email) OVERRIDING SYSTEM VALUE VALUES "
    "  (901, 'Li Wei', 'li@desk.example'), (902, 'Wu Fang', 'wu@desk.example');"
    "INSERT INTO customers (id, number) OVERRIDING SYSTEM VALUE VALUES (801, 'C-000801');"
    /* number, channel, category, priority, queue, created, first response due, responded,
       resolution due, resolved, closed, escalation level, assignee */
    "INSERT INTO tickets (id, number, customer_id, channel, category, priority, queue, language,"
    "  created_at, first_response_due_at, first_responded_at, handling_due_at, resolution_due_at,"
    "  resolved_at, closed_at, escalation_level, assignee_id, status) OVERRIDING SYSTEM VALUE "
    "VALUES"
    " (1, 'SR-A', 801, 'email', 'order', 'normal', 'orders', 'en', '2026-11-01 00:30+08',"
    "  '2026-11-01 00:45+08', '2026-11-01 00:40+08', '2026-11-03 00:30+08',"
    "  '2026-11-03 00:30+08', '2026-11-01 20:30+08', NULL, 1, 901, 'resolved'),"
    " (2, 'SR-B', 801, 'chat', 'aftersale.fault.software', 'important', 'technical', 'en',"
    "  '2026-11-03 10:00+08', '2026-11-03 10:15+08', '2026-11-03 10:30+08',"
    "  '2026-11-04 10:00+08', '2026-11-04 10:00+08', '2026-11-05 22:00+08', NULL, 1, 902,"
    "  'resolved'),"
    " (3, 'SR-C', 801, 'phone', 'callback', 'normal', 'general', 'zh', '2026-11-05 09:00+08',"
    "  '2026-11-05 09:45+08', '2026-11-05 09:40+08', '2026-11-07 09:00+08',"
    "  '2026-11-07 09:00+08', NULL, NULL, 1, 901, 'open'),"
    " (4, 'SR-D', 801, 'api', 'complaint', 'urgent', 'complaints', 'en', '2026-11-10 12:00+08',"
    "  '2026-11-10 12:05+08', NULL, '2026-11-10 14:00+08', '2026-11-11 12:00+08', NULL, NULL, 3,"
    "  NULL, 'open'),"
    " (5, 'SR-E', 801, 'email', 'complaint', 'normal', 'complaints', 'en', '2026-11-20 08:00+08',"
    "  '2026-11-20 08:15+08', '2026-11-20 08:05+08', '2026-11-22 08:00+08',"
    "  '2026-11-22 08:00+08', NULL, '2026-11-20 18:00+08', 2, 902, 'closed'),"
    " (6, 'SR-F', 801, 'email', 'order', 'normal', 'orders', 'en', '2026-11-30 23:00+08',"
    "  '2026-11-30 23:15+08', NULL, '2026-12-02 23:00+08', '2026-12-02 23:00+08', NULL, NULL, 1,"
    "  NULL, 'open'),"
    /* Outside the month on either side: 23:30 on Oct 31 and 00:30 on Dec 1 in Shanghai. */
    " (7, 'SR-OCT', 801, 'email', 'order', 'normal', 'orders', 'en', '2026-10-31 23:30+08',"
    "  '2026-10-31 23:45+08', '2026-10-31 23:40+08', '2026-11-02 23:30+08',"
    "  '2026-11-02 23:30+08', '2026-11-01 09:00+08', NULL, 1, 901, 'resolved'),"
    " (8, 'SR-DEC', 801, 'chat', 'order', 'normal', 'orders', 'en', '2026-12-01 00:30+08',"
    "  '2026-12-01 00:45+08', NULL, '2026-12-03 00:30+08', '2026-12-03 00:30+08', NULL, NULL, 1,"
    "  NULL, 'open');"
    "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, body, received_at,"
    "  created_at) SELECT id, 'in', channel, 'fixture:' || number, 'text', created_at, created_at"
    "  FROM tickets;"
    "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, body, received_at) "
    "VALUES (1, 'out', 'email', 'fixture:out', 'answer', '2026-11-01 00:40+08');"
    "INSERT INTO sla_breaches (ticket_id, clock, level, due_at) VALUES"
    " (4, 'first_response', 1, '2026-11-10 12:05+08'), (4, 'resolution', 2, '2026-11-11 12:00+08');"
    /* ticket, sent, answered, speed, efficiency, attitude, professionalism, overall, comment */
    "INSERT INTO surveys (id, ticket_id, token_hash, language, created_at, expires_at, answered_at,"
    "  response_speed, resolution_efficiency, attitude, professionalism, overall, comment) "
    "OVERRIDING SYSTEM VALUE VALUES"
    " (1, 1, '\\x01', 'en', '2026-11-02 09:00+08', '2026-11-09 09:00+08', '2026-11-02 10:00+08',"
    "  5, 5, 5, 5, 5, '很好'),"
    " (2, 2, '\\x02', 'en', '2026-11-28 09:00+08', '2026-12-05 09:00+08', '2026-12-01 02:00+08',"
    "  3, 3, 3, 3, 1, NULL),"
    " (3, 5, '\\x03', 'en', '2026-11-21 09:00+08', '2026-11-28 09:00+08', '2026-11-21 10:00+08',"
    "  2, 3, 4, 3, 2, 'Too slow <b>really</b>'),"
    " (4, 7, '\\x04', 'en', '2026-10-30 09:00+08', '2026-11-06 09:00+08', '2026-11-03 10:00+08',"
    "  4, 4, 4, 4, 4, NULL),"
    " (5, 3, '\\x05', 'zh', '2026-11-25 09:00+08', '2026-12-02 09:00+08', NULL,"
    "  NULL, NULL, NULL, NULL, NULL, NULL);"
    "INSERT INTO followups (ticket_id, survey_id, queue, reason, created_at, due_at, closed_at) "
    "VALUES"
    " (5, 3, 'complaints', 'low rating', '2026-11-21 10:00+08', '2026-11-26 10:00+08',"
    "  '2026-11-25 10:00+08'),"
    " (2, NULL, 'complaints', 'low rating', '2026-11-20 10:00+08', '2026-11-25 10:00+08',"
    "  '2026-11-27 10:00+08'),"
    " (1, NULL, 'complaints', 'low rating', '2026-11-27 10:00+08', '2026-11-30 12:00+08', NULL),"
    " (3, NULL, 'complaints', 'low rating', '2026-11-29 10:00+08', '2026-12-03 10:00+08', NULL);";

static struct harness_db db;

static int setup(void **state)
{
    (void)state;
    harness_db_create(&db, "reports");
    if (harness_migrate(db.url, NULL, 0) != 0)
        return -1;
    PGconn *c = harness_pg(db.url);
    harness_pg_exec(c, fixture_sql);
    PQfinish(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_db_drop(&db);
    return 0;
}

/* Runs `intake report ARGS`; returns its exit status, stdout+stderr in a malloc'd *out. */
static int report(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s report --timezone Asia/Shanghai "
             "--as-of " AS_OF " %s 2>&1",
             db.url, INTAKE_BINARY, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *report_json(const char *args)
{
    char *out = NULL, full[256];
    snprintf(full, sizeof(full), "--format json %s", args);
    int rc = report(full, &out);
    if (rc != 0)
        fail_msg("intake report %s: exit %d: %s", full, rc, out);
    json_error_t err;
    json_t *r = json_loads(out, 0, &err);
    if (!r)
        fail_msg("not JSON (%s): %s", err.text, out);
    free(out);
    return r;
}

/* The number at a dotted path ("volume.tickets"); fails on a missing key. */
static double num(const json_t *r, const char *path)
{
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", path);
    const json_t *v = r;
    for (char *save = NULL, *k = strtok_r(copy, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    if (!json_is_number(v))
        fail_msg("%s is not a number", path);
    return json_number_value(v);
}

static bool is_null(const json_t *r, const char *path)
{
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", path);
    const json_t *v = r;
    for (char *save = NULL, *k = strtok_r(copy, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return json_is_null(v);
}

#define assert_fig(r, path, want)                                                                  \
    do {                                                                                           \
        double got_ = num((r), (path));                                                            \
        if (got_ < (want)-0.001 || got_ > (want) + 0.001)                                          \
            fail_msg("%s = %g, expected %g", (path), got_, (double)(want));                        \
    } while (0)

static void test_every_figure_of_the_month(void **state)
{
    (void)state;
    json_t *r = report_json("--month 2026-11");
    assert_string_equal(json_string_value(json_object_get(r, "period")), "2026-11");
    assert_string_equal(json_string_value(json_object_get(r, "timezone")), "Asia/Shanghai");
    assert_non_null(json_object_get(r, "as_of"));
    /* Volume: six tickets, not SR-OCT nor SR-DEC. */
    assert_fig(r, "volume.tickets", 6);
    assert_fig(r, "volume.by_channel.email", 3);
    assert_fig(r, "volume.by_channel.chat", 1);
    assert_fig(r, "volume.by_channel.phone", 1);
    assert_fig(r, "volume.by_channel.api", 1);
    assert_fig(r, "volume.by_category.order", 2);
    assert_fig(r, "volume.by_category.complaint", 2);
    assert_fig(r, "volume.by_priority.normal", 4);
    assert_fig(r, "volume.customer_messages_by_channel.email", 3);
    const json_t *days = json_object_get(json_object_get(r, "volume"), "per_day");
    assert_int_equal(json_array_size(days), 30);
    assert_string_equal(json_string_value(json_object_get(json_array_get(days, 0), "day")),
                        "2026-11-01");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(days, 0), "tickets")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(days, 1), "tickets")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(days, 29), "tickets")), 1);
    /* First response: 10, 30, 40, 5 minutes; A, C, E in time of six judged; D, F never. */
    assert_fig(r, "first_response.answered", 4);
    assert_fig(r, "first_response.median_minutes", 20);
    assert_fig(r, "first_response.p90_minutes", 37);
    assert_fig(r, "first_response.judged", 6);
    assert_fig(r, "first_response.within_deadline_pct", 50);
    assert_fig(r, "first_response.unanswered_past_deadline", 2);
    assert_fig(r, "first_response.distribution.up_to_15_min", 2);
    assert_fig(r, "first_response.distribution.up_to_1_h", 2);
    /* Resolution: A 20 h, B 60 h, E closed after 10 h; A and E in time of six judged. */
    assert_fig(r, "resolution.resolved", 3);
    assert_fig(r, "resolution.resolution_rate_pct", 50);
    assert_fig(r, "resolution.median_hours", 20);
    assert_fig(r, "resolution.p90_hours", 52);
    assert_fig(r, "resolution.within_deadline_pct", 33.3);
    assert_fig(r, "resolution.by_priority.normal.tickets", 4);
    assert_fig(r, "resolution.by_priority.normal.resolution_rate_pct", 50);
    assert_fig(r, "resolution.by_priority.normal.answered_within_deadline_pct", 75);
    assert_fig(r, "resolution.by_priority.important.resolved_within_deadline_pct", 0);
    /* Escalations. */
    assert_fig(r, "escalations.level_2", 2);
    assert_fig(r, "escalations.level_3", 1);
    /* Clocks that ran out: answers B late, D and F never; handling never started on C, D, F
       (A, B and E were resolved); resolutions B late, C, D and F never. */
    assert_fig(r, "escalations.breaches_by_clock.first_response", 3);
    assert_fig(r, "escalations.breaches_by_clock.handling", 3);
    assert_fig(r, "escalations.breaches_by_clock.resolution", 4);
    /* Surveys: answered in November: 1 (5s), 3 (2-4), 4 (4s, an October ticket); sent in it:
       1, 2, 3, 5, of which 1, 2 and 3 were answered (2 in December). */
    assert_fig(r, "satisfaction.sent", 4);
    assert_fig(r, "satisfaction.response_rate_pct", 75);
    assert_fig(r, "satisfaction.answered", 3);
    assert_fig(r, "satisfaction.satisfied_pct", 66.7);
    assert_fig(r, "satisfaction.dimensions.response_speed.mean", 3.67);
    assert_fig(r, "satisfaction.dimensions.resolution_efficiency.mean", 4);
    assert_fig(r, "satisfaction.dimensions.attitude.mean", 4.33);
    assert_fig(r, "satisfaction.dimensions.professionalism.mean", 4);
    assert_fig(r, "satisfaction.dimensions.overall.mean", 3.67);
    assert_fig(r, "satisfaction.dimensions.overall.distribution.2", 1);
    assert_fig(r, "satisfaction.dimensions.overall.distribution.3", 0);
    assert_fig(r, "satisfaction.dimensions.overall.distribution.5", 1);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(r, "satisfaction"), "comments")), 2);
    /* Follow-ups due in November: one closed early, one late, one never; one due in December. */
    assert_fig(r, "followups.opened", 4);
    assert_fig(r, "followups.due", 3);
    assert_fig(r, "followups.closed", 2);
    assert_fig(r, "followups.on_time_pct", 33.3);
    assert_fig(r, "followups.open_overdue", 1);
    /* Complaints D and E; the callback C answered in time. */
    assert_fig(r, "complaints.tickets", 2);
    assert_fig(r, "complaints.share_pct", 33.3);
    assert_fig(r, "complaints.resolution_rate_pct", 50);
    assert_fig(r, "complaints.median_hours_to_resolve", 10);
    assert_fig(r, "complaints.callbacks", 1);
    assert_fig(r, "complaints.callbacks_in_time_pct", 100);
    /* Agents: Li (A, C), Wu (B, E). */
    const json_t *agents = json_object_get(r, "agents");
    assert_int_equal(json_array_size(agents), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(agents, 0), "agent")),
                        "Li Wei");
    assert_fig(json_array_get(agents, 0), "median_first_response_minutes", 25);
    assert_fig(json_array_get(agents, 0), "mean_overall", 5);
    assert_fig(json_array_get(agents, 1), "resolved", 2);
    assert_fig(json_array_get(agents, 1), "mean_overall", 1.5);
    json_decref(r);
}

static void test_a_queue_and_a_quarter(void **state)
{
    (void)state;
    json_t *r = report_json("--month 2026-11 --queue complaints");
    assert_fig(r, "volume.tickets", 2);
    assert_fig(r, "complaints.share_pct", 100);
    assert_fig(r, "followups.due", 1); /* the follow-up of a complaint's survey */
    json_decref(r);
    r = report_json("--quarter 2026-Q4");
    assert_string_equal(json_string_value(json_object_get(r, "from")), "2026-10-01");
    assert_string_equal(json_string_value(json_object_get(r, "to")), "2027-01-01");
    assert_fig(r, "volume.tickets", 8);
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "volume"), "per_day")), 92);
    json_decref(r);
    r = report_json("--from 2026-11-01 --to 2026-11-05");
    assert_fig(r, "volume.tickets", 3);
    assert_true(is_null(r, "followups.on_time_pct"));
    json_decref(r);
}

static void test_text_html_and_csv(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(report("--month 2026-11", &out), 0);
    assert_non_null(strstr(out, "Service report 2026-11"));
    assert_non_null(strstr(out, "66.7 % (target 90 %, missed)"));
    assert_non_null(strstr(out, "Definitions"));
    free(out);
    assert_int_equal(report("--month 2026-11 --lang zh", &out), 0);
    assert_non_null(strstr(out, "售后服务报告 2026-11"));
    assert_non_null(strstr(out, "问题解决率"));
    assert_non_null(strstr(out, "统计口径"));
    free(out);
    assert_int_equal(report("--month 2026-11 --format html", &out), 0);
    assert_non_null(strstr(out, "<!doctype html>"));
    assert_non_null(strstr(out, "<svg"));
    /* A customer's comment is text, never markup. */
    assert_non_null(strstr(out, "Too slow &lt;b&gt;really&lt;/b&gt;"));
    assert_null(strstr(out, "<b>really"));
    free(out);

    /* The CSV, read back with Python's csv module: six rows, the fields in place. */
    char path[] = "/tmp/intake-report-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(report("--month 2026-11 --format csv", &out), 0);
    FILE *f = fopen(path, "w");
    fputs(out, f);
    fclose(f);
    free(out);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "python3 -c \"import csv,sys; rows=list(csv.DictReader(open(sys.argv[1], "
             "encoding='utf-8-sig'))); print(len(rows), rows[0]['ticket'], "
             "rows[0]['first_response_minutes'], rows[0]['answered_within_deadline'], "
             "rows[3]['answered_within_deadline'], rows[4]['resolved'])\" %s",
             path);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    unlink(path);
    assert_string_equal(line, "6 SR-A 10.0 yes no 2026-11-20 18:00\n");
}

static void test_what_cannot_be_reported_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *args, *why;
    } cases[] = {
        {"--month 2026-13", "a month (YYYY-MM) or a quarter"},
        {"--month 2026-11 --queue nowhere", "no such queue"},
        {"--month 2999-01", "has not begun"},
        {"--from 2026-02-30 --to 2026-03-02", "must be dates"},
        {"--from 2026-11-05 --to 2026-11-01", "ends before it begins"},
        {"--month 2026-11 --format pdf", "--format is text, json, csv or html"},
        {"--month 2026-11 --timezone Mars/Olympus", "no such time zone"},
        {"--month 2026-11 --quarter 2026-Q4", "one period"},
        {"", "give --month"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL;
        int rc = report(cases[i].args, &out);
        if (rc != 64 || !strstr(out, cases[i].why))
            fail_msg("%s: exit %d: %s", cases[i].args, rc, out);
        free(out);
    }
}

/* The database away: exit 69 (EX_UNAVAILABLE, try again later), never an empty report. */
static void test_an_unreachable_database_is_69(void **state)
{
    (void)state;
    char url[128], cmd[512], out[1024];
    harness_unreachable_db_url(url, sizeof(url));
    snprintf(cmd, sizeof(cmd),
             "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s report --month 2026-11 --format json 2>&1",
             url, INTAKE_BINARY);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 69);
    assert_non_null(strstr(out, "cannot reach the database"));
    assert_null(strstr(out, "\"volume\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_figure_of_the_month),
        cmocka_unit_test(test_a_queue_and_a_quarter),
        cmocka_unit_test(test_text_html_and_csv),
        cmocka_unit_test(test_what_cannot_be_reported_is_refused),
        cmocka_unit_test(test_an_unreachable_database_is_69),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
