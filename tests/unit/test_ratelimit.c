/* Client limits: token bucket refill, failed-authentication cap, bounded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "gw_ratelimit.h"

static void test_bucket_allows_burst_then_refills(void **state)
{
    (void)state;
    struct gw_ratelimit *rl = gw_ratelimit_create(2.0, 4.0, 0);
    int retry = 0;
    for (int i = 0; i < 4; i++)
        assert_true(gw_ratelimit_allow(rl, "10.0.0.1", 100.0, &retry));
    assert_false(gw_ratelimit_allow(rl, "10.0.0.1", 100.0, &retry));
    assert_int_equal(retry, 1);
    /* Another client has a bucket of its own. */
    assert_true(gw_ratelimit_allow(rl, "10.0.0.2", 100.0, &retry));
    /* Half a second at 2/s buys one request, not two. */
    assert_true(gw_ratelimit_allow(rl, "10.0.0.1", 100.5, &retry));
    assert_false(gw_ratelimit_allow(rl, "10.0.0.1", 100.5, &retry));
    /* A long pause refills only up to the burst. */
    for (int i = 0; i < 4; i++)
        assert_true(gw_ratelimit_allow(rl, "10.0.0.1", 200.0, &retry));
    assert_false(gw_ratelimit_allow(rl, "10.0.0.1", 200.0, &retry));
    gw_ratelimit_destroy(rl);
}

static void test_rate_zero_means_unlimited(void **state)
{
    (void)state;
    struct gw_ratelimit *rl = gw_ratelimit_create(0, 1, 0);
    int retry = 0;
    for (int i = 0; i < 10000; i++)
        assert_true(gw_ratelimit_allow(rl, "10.0.0.1", 1.0, &retry));
    assert_true(gw_ratelimit_auth_allowed(rl, "10.0.0.1", 1.0, &retry));
    gw_ratelimit_destroy(rl);
}

static void test_auth_failures_capped_per_minute(void **state)
{
    (void)state;
    struct gw_ratelimit *rl = gw_ratelimit_create(0, 1, 3);
    int retry = 0;
    for (int i = 0; i < 3; i++) {
        assert_true(gw_ratelimit_auth_allowed(rl, "::1", 10.0 + i, &retry));
        gw_ratelimit_auth_failed(rl, "::1", 10.0 + i);
    }
    assert_false(gw_ratelimit_auth_allowed(rl, "::1", 13.0, &retry));
    assert_int_equal(retry, 57);
    assert_true(gw_ratelimit_auth_allowed(rl, "127.0.0.1", 13.0, &retry));
    /* The window rolls over after a minute. */
    assert_true(gw_ratelimit_auth_allowed(rl, "::1", 71.0, &retry));
    gw_ratelimit_destroy(rl);
}

static void test_many_clients_stay_bounded_and_correct(void **state)
{
    (void)state;
    struct gw_ratelimit *rl = gw_ratelimit_create(1.0, 1.0, 0);
    int retry = 0;
    char ip[32];
    /* Far more clients than slots: each still gets its first request. */
    for (int i = 0; i < 100000; i++) {
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_true(gw_ratelimit_allow(rl, ip, 5.0 + i * 1e-6, &retry));
    }
    /* A recent client keeps its state: its second request at once is refused. */
    assert_false(gw_ratelimit_allow(rl, ip, 5.2, &retry));
    gw_ratelimit_destroy(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_allows_burst_then_refills),
        cmocka_unit_test(test_rate_zero_means_unlimited),
        cmocka_unit_test(test_auth_failures_capped_per_minute),
        cmocka_unit_test(test_many_clients_stay_bounded_and_correct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
