/*
 * Session announcement payloads: what the announcer writes, the listener
 * reads back, in order, and no payload reaches PostgreSQL's 8000-byte limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "gw_session_payload.h"

static void test_one_pair_is_one_payload(void **state)
{
    (void)state;
    const struct gw_session_seq one[] = {{5, 7}};
    char *array = gw_session_payload_array(one, 1);
    assert_string_equal(array, "{\"5 7\"}");
    free(array);
}

/* Splits a text array of payloads into out (the payloads hold digits and spaces only). */
static size_t split(char *array, char **out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(array[0], '{');
    for (char *p = array + 1; *p == '"' && n < cap;) {
        char *end = strchr(p + 1, '"');
        assert_non_null(end);
        *end = '\0';
        out[n++] = p + 1;
        p = end + 1;
        if (*p == ',')
            p++;
        else
            assert_int_equal(*p, '}');
    }
    return n;
}

static void test_many_pairs_fill_payloads_under_the_limit_and_read_back_in_order(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct gw_session_seq *pairs = calloc(N, sizeof(*pairs));
    for (size_t i = 0; i < N; i++)
        pairs[i] = (struct gw_session_seq){9000000000000000000LL - (long long)i, (long long)i + 1};
    char *array = gw_session_payload_array(pairs, N);
    char *payloads[64];
    size_t n_payloads = split(array, payloads, 64);
    /* ~24 characters a pair: several payloads, each but the last filled to within a pair. */
    assert_true(n_payloads >= 3);
    for (size_t k = 0; k + 1 < n_payloads; k++)
        assert_true(strlen(payloads[k]) > GW_PAYLOAD_MAX - 42);
    struct gw_session_seq read[GW_PAYLOAD_MAX / 4];
    size_t at = 0;
    for (size_t k = 0; k < n_payloads; k++) {
        assert_true(strlen(payloads[k]) <= GW_PAYLOAD_MAX);
        size_t got = gw_session_payload_read(payloads[k], read, GW_PAYLOAD_MAX / 4);
        assert_true(got > 0);
        for (size_t i = 0; i < got; i++, at++) {
            assert_true(read[i].session == pairs[at].session);
            assert_true(read[i].seq == pairs[at].seq);
        }
    }
    assert_int_equal(at, N);
    free(array);
    free(pairs);
}

static void test_reading_stops_at_what_is_not_a_pair(void **state)
{
    (void)state;
    struct gw_session_seq out[4];
    assert_int_equal(gw_session_payload_read("12 {\"type\":\"typing\"}", out, 4), 0);
    assert_int_equal(gw_session_payload_read("", out, 4), 0);
    assert_int_equal(gw_session_payload_read("7", out, 4), 0);
    assert_int_equal(gw_session_payload_read("1 2 3", out, 4), 1);
    assert_int_equal(gw_session_payload_read("1 2 3 4 5 6 7 8 9 10", out, 4), 4);
    assert_true(out[3].session == 7 && out[3].seq == 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_pair_is_one_payload),
        cmocka_unit_test(test_many_pairs_fill_payloads_under_the_limit_and_read_back_in_order),
        cmocka_unit_test(test_reading_stops_at_what_is_not_a_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
