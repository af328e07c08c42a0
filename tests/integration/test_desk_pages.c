/*
 * The desk's ticket list a page at a time (keyset: `after` = the page
 * before's `next`): every open ticket once, in the list's order (overdue
 * first, then the nearest running deadline), the last page's `next` null;
 * a malformed cursor is a 400 naming it. The order is checked against the
 * deadlines the database holds.
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
    char url[512];
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

    char seen[512] = "", query[256] = "?limit=2";
    int pages = 0;
    for (;;) {
        json_t *page = list(query);
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(page, "tickets"), i, t)
        {
            snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s", *seen ? "," : "",
                     json_string_value(json_object_get(t, "number")));
        }
        pages++;
        const char *next = json_string_value(json_object_get(page, "next"));
        if (!next) {
            assert_true(json_is_null(json_object_get(page, "next")));
            json_decref(page);
            break;
        }
        assert_true(pages < 10);
        snprintf(query, sizeof(query), "?limit=2&after=%s", next);
        json_decref(page);
    }
    assert_string_equal(seen, expected);
    assert_int_equal(pages, 3); /* 6 open: 2 + 2 + 2, and the third page says it is the last */
    free(expected);
}

static void test_a_malformed_cursor_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"?after=12", "?after=:5", "?after=x:5",
                                      "?after=12:", "?after=1.5:5x"};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_cover_every_open_ticket_once_in_order),
        cmocka_unit_test(test_a_malformed_cursor_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
