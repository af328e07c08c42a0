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
#include <unistd.h>

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

/*
 * A backlog: 120 first responses run out at once. The gateway's scanner
 * takes them in passes of 10 back to back in one turn (not one pass a
 * scan interval), and the lead's stream gets the 120 notices numbered
 * without a gap, the first ticket's first.
 */
static void test_a_backlog_is_escalated_in_one_turn(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_sla_backlog", "\"escalation\":{\"scan_seconds\":4}");
    char lee[64];
    desk_env_add_agent(&f, "Lee", "lee@desk.test", "lead", "technical", "10", lee, sizeof(lee));
    char *first = NULL;
    for (int i = 0; i < 120; i++) {
        char id[32], from[48];
        snprintf(id, sizeof(id), "backlog-%d", i);
        snprintf(from, sizeof(from), "c%d@x.test", i);
        char *t = desk_env_contact(&f, id, from, "the app crashes");
        if (i == 0)
            first = t;
        else
            free(t);
    }
    struct ws_client *sl = desk_env_stream(&f, lee, 0, "away");
    harness_pg_exec(f.pg, "UPDATE tickets SET first_response_due_at = now() - interval '1 minute'");
    long escalated = 0;
    for (int waited = 0; waited < 3 * DESK_WAIT_MS && escalated < 120; waited += 100) {
        usleep(100 * 1000);
        escalated =
            harness_pg_long(f.pg, "SELECT count(*) FROM tickets WHERE escalation_level = 2");
    }
    assert_int_equal(escalated, 120);
    /* One turn: the passes ran back to back, not a scan interval (4 s) apart. */
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM ticket_events WHERE kind = "
                                           "'escalated' HAVING max(created_at) - min(created_at) "
                                           "< interval '2 seconds'"),
                     120);
    /* The lead's notices: 120, numbered on from the stream's earlier events without a gap. */
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM session_events e "
                                           "JOIN agents a ON a.stream_id = e.session_id "
                                           "WHERE a.email = 'lee@desk.test' "
                                           "AND e.event->>'type' = 'ticket.escalated'"),
                     120);
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM live_sessions l "
                                           "JOIN agents a ON a.stream_id = l.id "
                                           "WHERE a.email = 'lee@desk.test' AND l.last_seq = "
                                           "(SELECT count(*) FROM session_events e "
                                           "WHERE e.session_id = l.id) AND l.last_seq = "
                                           "(SELECT max(seq) FROM session_events e "
                                           "WHERE e.session_id = l.id)"),
                     1);
    desk_env_expect_event(sl, "ticket.escalated", first);
    ws_free(sl);
    free(first);
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
        cmocka_unit_test(test_a_backlog_is_escalated_in_one_turn),
        cmocka_unit_test(test_working_days_skip_the_weekend),
    };
    return cmocka_run_group_tests_name("desk SLA", tests, NULL, NULL);
}
