/*
 * GET /v1/reports on a real gateway: the same figures as `intake report`,
 * served from the cache while nothing changed and made again when a ticket
 * of the period did, and a report that takes long (here: held up by a lock
 * on the cache) never holds up a registration, even with one registration
 * worker. Who may read reports and the refusals are checked against the
 * OpenAPI document by tests/api.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

static struct harness_env env;

/* Three tickets in November 2026 (Shanghai), one a minute before it. */
static const char fixture_sql[] =
    "INSERT INTO customers (id, number) OVERRIDING SYSTEM VALUE VALUES (801, 'C-000801');"
    "INSERT INTO tickets (number, customer_id, channel, category, priority, queue, language,"
    "  created_at, first_response_due_at, first_responded_at, handling_due_at, resolution_due_at,"
    "  resolved_at, status) VALUES"
    " ('R-1', 801, 'email', 'order', 'normal', 'orders', 'en', '2026-11-02 10:00+08',"
    "  '2026-11-02 10:15+08', '2026-11-02 10:10+08', '2026-11-04 10:00+08',"
    "  '2026-11-04 10:00+08', '2026-11-03 10:00+08', 'resolved'),"
    " ('R-2', 801, 'chat', 'complaint', 'urgent', 'complaints', 'zh', '2026-11-09 10:00+08',"
    "  '2026-11-09 10:05+08', '2026-11-09 10:30+08', '2026-11-09 12:00+08',"
    "  '2026-11-10 10:00+08', NULL, 'open'),"
    " ('R-3', 801, 'phone', 'callback', 'normal', 'general', 'zh', '2026-11-30 23:50+08',"
    "  '2026-12-01 00:35+08', NULL, '2026-12-02 23:50+08', '2026-12-02 23:50+08', NULL, 'open'),"
    " ('R-0', 801, 'email', 'order', 'normal', 'orders', 'en', '2026-10-31 23:59+08',"
    "  '2026-11-01 00:14+08', NULL, '2026-11-02 23:59+08', '2026-11-02 23:59+08', NULL, 'open');";

static int setup(void **state)
{
    (void)state;
    /* One registration worker: a report on it would hold every contact. */
    if (harness_env_setup(&env, "report_api",
                          "{\"database\": {\"workers\": 1},"
                          " \"reports\": {\"timezone\": \"Asia/Shanghai\", \"cache_seconds\": 0}}"))
        return -1;
    harness_pg_exec(env.pg, fixture_sql);
    /*
     * The fixture's open tickets are past their deadlines: escalate them now,
     * once (new deadlines a day ahead), so that the gateway's own SLA scan
     * finds nothing to change between two reports that must agree.
     */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s sla-scan >/dev/null 2>&1", env.db.url,
             INTAKE_BINARY);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return harness_env_teardown(&env);
}

static json_t *get_report(const char *query)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/v1/reports?%s", env.gw.base, query);
    struct harness_response r;
    harness_http("GET", url, HARNESS_TOKEN, NULL, NULL, 0, &r);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", query, r.status, r.body);
    json_t *o = json_loads(r.body, 0, NULL);
    harness_response_free(&r);
    assert_non_null(o);
    return o;
}

static json_t *cli_report(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s report --timezone Asia/Shanghai "
             "--format json %s",
             env.db.url, INTAKE_BINARY, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_t *o = json_loadf(p, 0, NULL);
    assert_int_equal(pclose(p), 0);
    assert_non_null(o);
    return o;
}

static json_int_t tickets_of(const json_t *report)
{
    return json_integer_value(json_object_get(json_object_get(report, "volume"), "tickets"));
}

static void test_the_api_reports_what_the_command_line_does(void **state)
{
    (void)state;
    json_t *api = get_report("period=2026-11");
    json_t *cli = cli_report("--month 2026-11");
    assert_int_equal(tickets_of(api), 3);
    /* Every deadline of the month has passed: as_of is all that may differ. */
    json_object_del(api, "as_of");
    json_object_del(cli, "as_of");
    if (!json_equal(api, cli)) {
        char *a = json_dumps(api, JSON_SORT_KEYS), *c = json_dumps(cli, JSON_SORT_KEYS);
        fail_msg("API %s\nCLI %s", a, c);
    }
    json_decref(api);
    json_decref(cli);
}

static char *computed_at(void)
{
    return harness_pg_text(env.pg, "SELECT string_agg(computed_at::text, ',') FROM report_cache "
                                   "WHERE request->>'period' = '2026-Q4'");
}

static void test_the_cache_serves_until_a_ticket_changes(void **state)
{
    (void)state;
    json_t *first = get_report("period=2026-Q4");
    char *made = computed_at();
    json_t *again = get_report("period=2026-Q4");
    char *still = computed_at();
    /* Nothing changed: the same report, not made again. */
    assert_string_equal(made, still);
    assert_string_equal(json_string_value(json_object_get(first, "as_of")),
                        json_string_value(json_object_get(again, "as_of")));
    assert_int_equal(tickets_of(again), 4);

    /* A ticket of the period is answered: the report is made again and says so. */
    harness_pg_exec(env.pg, "UPDATE tickets SET first_responded_at = '2026-12-01 00:20+08' "
                            "WHERE number = 'R-3'");
    json_t *changed = get_report("period=2026-Q4");
    char *remade = computed_at();
    assert_string_not_equal(made, remade);
    json_t *fr = json_object_get(changed, "first_response");
    assert_int_equal(
        json_integer_value(json_object_get(fr, "answered")),
        json_integer_value(json_object_get(json_object_get(first, "first_response"), "answered")) +
            1);
    /* A new ticket in the period counts too. */
    harness_pg_exec(env.pg,
                    "INSERT INTO tickets (number, customer_id, channel, category, priority, queue,"
                    " language, created_at, first_response_due_at, handling_due_at,"
                    " resolution_due_at) VALUES ('R-4', 801, 'api', 'order', 'normal', 'orders',"
                    " 'en', '2026-10-05 10:00+08', '2026-10-05 10:15+08', '2026-10-07 10:00+08',"
                    " '2026-10-07 10:00+08')");
    json_t *more = get_report("period=2026-Q4");
    assert_int_equal(tickets_of(more), 5);
    free(made);
    free(still);
    free(remade);
    json_decref(first);
    json_decref(again);
    json_decref(changed);
    json_decref(more);
}

/* The poller's turn: a read report whose data changed is made again ahead of the next request. */
static void test_the_poller_refreshes_what_people_read(void **state)
{
    (void)state;
    json_t *before = get_report("period=2026-11");
    harness_pg_exec(env.pg, "UPDATE tickets SET resolved_at = '2026-11-10 10:00+08', "
                            "status = 'resolved' WHERE number = 'R-2'");
    /* The earlier tests' reports (this quarter's) are left out of this turn. */
    harness_pg_exec(env.pg, "UPDATE report_cache SET checked_at = now() + interval '1 hour' "
                            "WHERE request->>'period' <> '2026-11'");
    char *key = harness_pg_text(env.pg, "SELECT key FROM report_cache "
                                        "WHERE request->>'period' = '2026-11'");
    char *refreshed =
        harness_pg_text(env.pg, "SELECT intake_report_refresh('{\"cache_s\": 0}')->>'refreshed'");
    assert_string_equal(refreshed, key);
    /* Nothing changed since: a second turn checks and leaves it. */
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM report_cache r, "
                                             "intake_report_refresh('{\"cache_s\": 0}') x "
                                             "WHERE x->>'refreshed' IS NOT NULL"),
                     0);
    json_t *resolved = json_object_get(json_object_get(before, "resolution"), "resolved");
    harness_pg_exec(env.pg, "UPDATE report_cache SET checked_at = now()");
    char *now_resolved =
        harness_pg_text(env.pg, "SELECT report->'resolution'->>'resolved' FROM report_cache "
                                "WHERE request->>'period' = '2026-11'");
    assert_int_equal(atoi(now_resolved), json_integer_value(resolved) + 1);
    /* A report nobody asked for in a month goes. */
    harness_pg_exec(env.pg, "UPDATE report_cache SET requested_at = now() - interval '31 days' "
                            "WHERE key = (SELECT key FROM report_cache "
                            "WHERE request->>'period' = '2026-11')");
    harness_pg_exec(env.pg, "SELECT intake_report_refresh('{}')");
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM report_cache "
                                             "WHERE request->>'period' = '2026-11'"),
                     0);
    free(key);
    free(refreshed);
    free(now_resolved);
    json_decref(before);
}

struct pending_report {
    pthread_t thread;
    _Atomic long status; /* 0 until the answer came */
};

static void *ask_for_report(void *arg)
{
    struct pending_report *p = arg;
    char url[512];
    snprintf(url, sizeof(url), "%s/v1/reports?period=2026-11&format=csv", env.gw.base);
    struct harness_response r;
    harness_http("GET", url, HARNESS_TOKEN, NULL, NULL, 0, &r);
    p->status = r.status;
    harness_response_free(&r);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_a_long_report_holds_no_registration(void **state)
{
    (void)state;
    /* The report waits for this lock for as long as the test holds it. */
    PGconn *holder = harness_pg(env.db.url);
    harness_pg_exec(holder, "BEGIN; LOCK TABLE report_cache IN ACCESS EXCLUSIVE MODE");
    struct pending_report p = {0};
    assert_int_equal(pthread_create(&p.thread, NULL, ask_for_report, &p), 0);
    long waiting = harness_pg_wait(
        env.pg,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'intake-slow' "
        "AND wait_event_type = 'Lock'",
        1);
    assert_int_equal(waiting, 1);
    double t0 = now_s();
    char *ticket = harness_post_new_contact(
        &env.gw, "{\"external_id\":\"during-report\",\"customer\":{\"email\":\"d@example.com\"},"
                 "\"body\":\"my order is late\"}");
    double took = now_s() - t0;
    assert_non_null(ticket);
    free(ticket);
    assert_true(took < 2.0);
    assert_int_equal(p.status, 0); /* the report is still waiting */
    harness_pg_exec(holder, "ROLLBACK");
    PQfinish(holder);
    pthread_join(p.thread, NULL);
    assert_int_equal(p.status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_api_reports_what_the_command_line_does),
        cmocka_unit_test(test_the_cache_serves_until_a_ticket_changes),
        cmocka_unit_test(test_the_poller_refreshes_what_people_read),
        cmocka_unit_test(test_a_long_report_holds_no_registration),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
