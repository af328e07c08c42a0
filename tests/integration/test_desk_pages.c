/*
 * The desk's ticket list a page at a time (keyset: `after` = the page
 * before's `next`): every open ticket once, in the list's order (overdue
 * first, then the nearest running deadline), the last page's `next` null;
 * finished work (resolved, closed) most recently finished first; a list of
 * both runs from open work into finished work; a malformed cursor is a 400
 * naming it. The orders are checked against what the database holds. A
 * ticket too long to be parsed again on its way out (desk_api.c passes a
 * large body on as PostgreSQL wrote it) is the body the database built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define TICKETS 7

static struct harness_env env;

static int setup(void **state)
{
    (void)state;
    return harness_env_setup(&env, "desk_pages", NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_env_teardown(&env);
}

static json_t *list(const char *query)
{
    char url[640]; /* base (64) + query (512) */
    snprintf(url, sizeof(url), "%s/v1/tickets%s", env.gw.base, query);
    struct harness_response r;
    harness_http("GET", url, HARNESS_TOKEN, NULL, NULL, 0, &r);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", query, r.status, r.body);
    json_t *o = json_loads(r.body, 0, NULL);
    harness_response_free(&r);
    assert_non_null(o);
    return o;
}

/* Every ticket number of the list, page by page from first (the query of
 * the first page) on, each next page asked with more followed by the page
 * before's `next`; *pages counts the pages. */
static char *walk(const char *first, const char *more, int *pages)
{
    char seen[1024] = "", query[512];
    snprintf(query, sizeof(query), "%s", first);
    *pages = 0;
    for (;;) {
        json_t *page = list(query);
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(page, "tickets"), i, t)
        {
            snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s", *seen ? "," : "",
                     json_string_value(json_object_get(t, "number")));
        }
        (*pages)++;
        const char *next = json_string_value(json_object_get(page, "next"));
        if (!next) {
            assert_true(json_is_null(json_object_get(page, "next")));
            json_decref(page);
            break;
        }
        assert_true(*pages < 10);
        snprintf(query, sizeof(query), "%s%s", more, next);
        json_decref(page);
    }
    return strdup(seen);
}

static void test_pages_cover_every_open_ticket_once_in_order(void **state)
{
    (void)state;
    for (int i = 0; i < TICKETS; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"external_id\":\"page-%d\",\"customer\":{\"email\":\"p%d@example.com\"},"
                 "\"body\":\"question %d\"}",
                 i, i, i);
        free(harness_post_new_contact(&env.gw, json));
    }
    /* Two of them overdue, one resolved (not listed). */
    harness_pg_exec(env.pg, "UPDATE tickets SET first_response_due_at = now() - interval '1 hour' "
                            "WHERE number IN ('SR-000005', 'SR-000006');"
                            "UPDATE tickets SET status = 'resolved', resolved_at = now() "
                            "WHERE number = 'SR-000007'");
    char *expected = harness_pg_text(
        env.pg, "SELECT string_agg(number, ',' ORDER BY intake_ticket_due(t), id) FROM tickets t "
                "WHERE status IN ('new', 'open', 'pending')");
    assert_true(!strncmp(expected, "SR-000005,SR-000006,", 20));

    int pages = 0;
    char *seen = walk("?limit=2", "?limit=2&after=", &pages);
    assert_string_equal(seen, expected);
    assert_int_equal(pages, 3); /* 6 open: 2 + 2 + 2, and the third page says it is the last */
    free(seen);
    free(expected);
}

/* Finished work, most recently finished first, a page at a time. */
static void test_finished_tickets_page_newest_first(void **state)
{
    (void)state;
    harness_pg_exec(env.pg, "UPDATE tickets SET status = 'resolved', "
                            "resolved_at = now() - interval '3 hours' WHERE number = 'SR-000001';"
                            "UPDATE tickets SET status = 'closed', "
                            "resolved_at = now() - interval '5 hours', "
                            "closed_at = now() - interval '1 hour' WHERE number = 'SR-000002'");
    char *expected = harness_pg_text(
        env.pg, "SELECT string_agg(number, ',' ORDER BY intake_ticket_finished(t) DESC, id DESC) "
                "FROM tickets t WHERE status IN ('resolved', 'closed')");
    assert_string_equal(expected, "SR-000007,SR-000002,SR-000001");
    int pages = 0;
    char *seen =
        walk("?status=resolved,closed&limit=2", "?status=resolved,closed&limit=2&after=", &pages);
    assert_string_equal(seen, expected);
    assert_int_equal(pages, 2);
    free(seen);
    seen = walk("?status=closed&limit=2", "?status=closed&limit=2&after=", &pages);
    assert_string_equal(seen, "SR-000002");
    free(seen);
    free(expected);
}

/* Open and finished statuses together: open work first in its order, then
 * finished work in its own, the pages running across from one to the other. */
static void test_a_mixed_list_runs_from_open_to_finished_work(void **state)
{
    (void)state;
    char *expected = harness_pg_text(
        env.pg, "SELECT string_agg(number, ',' ORDER BY status IN ('resolved', 'closed'), "
                "CASE WHEN status IN ('resolved', 'closed') THEN 0 ELSE "
                "extract(epoch FROM intake_ticket_due(t)) END, "
                "CASE WHEN status IN ('resolved', 'closed') THEN "
                "-extract(epoch FROM intake_ticket_finished(t)) END, "
                "CASE WHEN status IN ('resolved', 'closed') THEN -id ELSE id END) FROM tickets t");
    const char *base = "?status=new,open,pending,resolved,closed&limit=3";
    char first[128], next[160];
    snprintf(first, sizeof(first), "%s", base);
    snprintf(next, sizeof(next), "%s&after=", base);
    int pages = 0;
    char *seen = walk(first, next, &pages);
    assert_string_equal(seen, expected);
    assert_int_equal(pages, 3); /* 4 open + 3 finished: 3 + 3 + 1 */
    free(seen);
    free(expected);
}

static void test_a_malformed_cursor_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "?after=12", "?after=:5",   "?after=x:5",    "?after=12:",  "?after=1.5:5x",
        "?after=f:", "?after=f:12", "?after=g:12:5", "?after=f:x:5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char url[256];
        snprintf(url, sizeof(url), "%s/v1/tickets%s", env.gw.base, bad[i]);
        struct harness_response r;
        harness_http("GET", url, HARNESS_TOKEN, NULL, NULL, 0, &r);
        if (r.status != 400 || !strstr(r.body, "\"field\":\"after\""))
            fail_msg("%s: %ld %s", bad[i], r.status, r.body);
        harness_response_free(&r);
    }
}

static void test_a_long_ticket_is_the_body_the_database_built(void **state)
{
    (void)state;
    char *number = harness_pg_text(env.pg, "SELECT min(number) FROM tickets");
    assert_non_null(number);
    /* 200 messages of 500 characters, some of them needing escapes: ~130 KB. */
    char sql[640];
    snprintf(sql, sizeof(sql),
             "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, subject, body) "
             "SELECT (SELECT id FROM tickets WHERE number = '%s'), 'in', 'email', "
             "'pages-long-' || g, 'Re: \"quoted\" 发票', repeat('The printer \\ jams. ', 25) "
             "FROM generate_series(1, 200) g",
             number);
    harness_pg_exec(env.pg, sql);
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/tickets/%s", env.gw.base, number);
    struct harness_response r;
    harness_http("GET", url, HARNESS_TOKEN, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(strlen(r.body) > 100000);
    json_error_t err;
    json_t *got = json_loads(r.body, 0, &err);
    if (!got)
        fail_msg("not JSON: %s", err.text);
    harness_response_free(&r);
    snprintf(sql, sizeof(sql),
             "SELECT intake_desk_show(t) -> 'body' FROM tickets t WHERE number = '%s'", number);
    char *built = harness_pg_text(env.pg, sql);
    json_t *want = json_loads(built, 0, NULL);
    assert_non_null(want);
    assert_true(json_array_size(json_object_get(got, "messages")) >= 200);
    /* The view is audited (an audit row each time) but is otherwise the same. */
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    free(built);
    free(number);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_cover_every_open_ticket_once_in_order),
        cmocka_unit_test(test_finished_tickets_page_newest_first),
        cmocka_unit_test(test_a_mixed_list_runs_from_open_to_finished_work),
        cmocka_unit_test(test_a_malformed_cursor_is_refused),
        cmocka_unit_test(test_a_long_ticket_is_the_body_the_database_built),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
