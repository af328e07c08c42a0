/*
 * /metrics: the counters a finished job moves, and the registration-time
 * histogram in Prometheus' text format (cumulative buckets, +Inf, sum, count).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_metrics.h"

/* A registration handed over at 100 s that took `took` seconds to be answered. */
static void finish(struct gw_metrics *m, double took, enum gw_err err, bool duplicate)
{
    struct gw_intake_job job;
    memset(&job, 0, sizeof(job));
    job.kind = GW_JOB_REGISTER;
    job.submitted_at = 100.0;
    job.result.err = err;
    job.result.duplicate = duplicate;
    job.result.new_ticket = !duplicate;
    gw_metrics_count_result(m, &job, 100.0 + took);
}

/* The value on the line that starts with name (followed by a space), or -1. */
static double value_of(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void test_registration_times_fall_in_cumulative_buckets(void **state)
{
    (void)state;
    struct gw_metrics m;
    memset(&m, 0, sizeof(m));
    finish(&m, 0.0004, GW_OK, false); /* <= 1 ms */
    finish(&m, 0.0015, GW_OK, false); /* <= 2 ms */
    finish(&m, 0.0015, GW_OK, true);  /* a duplicate is answered by the database too */
    finish(&m, 0.012, GW_OK, false);  /* <= 20 ms */
    finish(&m, 7.0, GW_OK, false);    /* beyond the last bound: +Inf only */
    finish(&m, 0.003, GW_ERR_DB_UNAVAILABLE, false); /* not answered: counted as failed only */

    struct gw_arena *arena = gw_arena_create(4096);
    char *text = gw_metrics_render(&m, arena, 0);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE intake_registration_seconds histogram\n"));
    assert_true(value_of(text, "intake_registration_seconds_bucket{le=\"0.001\"}") == 1);
    assert_true(value_of(text, "intake_registration_seconds_bucket{le=\"0.002\"}") == 3);
    assert_true(value_of(text, "intake_registration_seconds_bucket{le=\"0.01\"}") == 3);
    assert_true(value_of(text, "intake_registration_seconds_bucket{le=\"0.02\"}") == 4);
    assert_true(value_of(text, "intake_registration_seconds_bucket{le=\"5\"}") == 4);
    assert_true(value_of(text, "intake_registration_seconds_bucket{le=\"+Inf\"}") == 5);
    assert_true(value_of(text, "intake_registration_seconds_count") == 5);
    double sum = value_of(text, "intake_registration_seconds_sum");
    assert_true(sum > 7.0153 && sum < 7.0155); /* 0.0004 + 0.0015 * 2 + 0.012 + 7 */
    assert_true(value_of(text, "intake_contacts_registered_total") == 4);
    assert_true(value_of(text, "intake_contacts_duplicate_total") == 1);
    assert_true(value_of(text, "intake_contacts_failed_total") == 1);
    gw_arena_destroy(arena);
}

/* Every bucket line is there from the start, counting nothing. */
static void test_an_idle_gateway_renders_every_bucket(void **state)
{
    (void)state;
    struct gw_metrics m;
    memset(&m, 0, sizeof(m));
    struct gw_arena *arena = gw_arena_create(4096);
    char *text = gw_metrics_render(&m, arena, 3);
    assert_non_null(text);
    size_t buckets = 0;
    for (const char *p = text; (p = strstr(p, "intake_registration_seconds_bucket{")); p++)
        buckets++;
    assert_int_equal(buckets, GW_METRICS_REGISTRATION_BUCKETS + 1);
    assert_true(value_of(text, "intake_registration_seconds_count") == 0);
    assert_true(value_of(text, "intake_jobs_in_flight") == 3);
    gw_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration_times_fall_in_cumulative_buckets),
        cmocka_unit_test(test_an_idle_gateway_renders_every_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
