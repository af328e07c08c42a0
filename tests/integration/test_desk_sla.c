/*
 * The desk end to end, deadlines: clocks that run out escalate the ticket
 * to the next tier and tell its agents, once, with a controllable clock
 * (`intake sla-scan --at`); and the database's calendar arithmetic
 * (working days past weekends and holidays, business hours).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk_env.h"

static void test_breached_clocks_escalate_to_the_next_tier(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_sla", NULL);
    char ann[64], lee[64], sue[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "10", ann, sizeof(ann));
    desk_env_add_agent(&f, "Lee", "lee@desk.test", "lead", "technical", "10", lee, sizeof(lee));
    desk_env_add_agent(&f, "Sue", "sue@desk.test", "supervisor", "complaints", "10", sue,
                       sizeof(sue));
    struct ws_client *sl = desk_env_stream(&f, lee, 0, "away");
    struct ws_client *ss = desk_env_stream(&f, sue, 0, "away");
    char *t = desk_env_contact(&f, "s1", "c@x.test", "the app crashes");
    harness_pg_exec(f.pg, "UPDATE tickets SET created_at = '2026-11-20 08:00+00', "
                          "first_response_due_at = '2026-11-20 08:15+00', handling_due_at = "
                          "'2026-11-22 08:00+00', resolution_due_at = '2026-11-21 08:00+00'");
    char out[4096];
    /* Before any clock runs out: nothing. */
    const char *early[] = {"sla-scan", "--at", "2026-11-20 08:10+00", NULL};
    assert_int_equal(desk_env_cli(&f, out, sizeof(out), early), 0);
    assert_non_null(strstr(out, "\"breaches\": []"));
    /* The first response is late: level 2, the lead hears of it. */
    const char *late[] = {"sla-scan", "--at", "2026-11-20 08:16+00", NULL};
    assert_int_equal(desk_env_cli(&f, out, sizeof(out), late), 0);
    assert_non_null(strstr(out, "first_response"));
    assert_int_equal(harness_pg_longf(f.pg, "SELECT escalation_level FROM tickets"), 2);
    desk_env_expect_event(sl, "ticket.escalated", t);
    /* The same scan again changes nothing. */
    assert_int_equal(desk_env_cli(&f, out, sizeof(out), late), 0);
    assert_non_null(strstr(out, "\"breaches\": []"));
    /* Level 2's first response (12 h from the escalation) runs out too: level 3, supervisors. */
    const char *later[] = {"sla-scan", "--at", "2026-11-20 20:17+00", NULL};
    assert_int_equal(desk_env_cli(&f, out, sizeof(out), later), 0);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT escalation_level FROM tickets"), 3);
    desk_env_expect_event(ss, "ticket.escalated", t);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM ticket_events WHERE kind = 'escalated'"), 2);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM sla_breaches"), 2);
    /* An agent escalating by hand past level 3: a conflict. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/escalate", t);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{}"), 409);
    ws_free(sl);
    ws_free(ss);
    free(t);
    desk_env_stop(&f);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breached_clocks_escalate_to_the_next_tier),
        cmocka_unit_test(test_working_days_skip_the_weekend),
    };
    return cmocka_run_group_tests_name("desk SLA", tests, NULL, NULL);
}
