/*
 * The bump allocator: every pointer aligned for any type, allocations that
 * never overlap across chunk boundaries, requests bigger than a chunk, the
 * string helpers, zeroing, and NULL (not a wild pointer) for impossible sizes.
 * ASan fills fresh malloc memory with garbage, so the zalloc test can fail.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_arena.h"

static int is_aligned(const void *p)
{
    return ((uintptr_t)p % alignof(max_align_t)) == 0;
}

static void test_create_and_destroy(void **state)
{
    (void)state;
    struct gw_arena *a = gw_arena_create(0); /* a tiny first chunk is rounded up */
    assert_non_null(a);
    char *p = gw_arena_alloc(a, 1);
    assert_non_null(p);
    *p = 'x';
    gw_arena_destroy(a);
    gw_arena_destroy(NULL);
}

static void test_alignment(void **state)
{
    (void)state;
    struct gw_arena *a = gw_arena_create(256);
    assert_non_null(a);
    /* Odd sizes, across several chunk changes. */
    for (size_t size = 1; size < 300; size++) {
        void *p = gw_arena_alloc(a, size);
        assert_non_null(p);
        if (!is_aligned(p))
            fail_msg("alloc(%zu) returned %p", size, p);
        memset(p, 0xAB, size);
    }
    /* Strings do not break the alignment of what follows. */
    assert_non_null(gw_arena_strdup(a, "abc"));
    long double *ld = gw_arena_alloc(a, sizeof(*ld));
    assert_true(is_aligned(ld));
    *ld = 1.5L;
    assert_non_null(gw_arena_printf(a, "%d", 7));
    assert_true(is_aligned(gw_arena_zalloc(a, 3)));
    assert_true(is_aligned(gw_arena_alloc(a, 5000)));
    assert_true(is_aligned(gw_arena_alloc(a, 1)));
    gw_arena_destroy(a);
}

static void test_many_small_do_not_overlap(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct gw_arena *a = gw_arena_create(512);
    assert_non_null(a);
    unsigned char **ptrs = malloc(N * sizeof(*ptrs));
    assert_non_null(ptrs);
    for (size_t i = 0; i < N; i++) {
        size_t size = 1 + i % 37;
        ptrs[i] = gw_arena_alloc(a, size);
        assert_non_null(ptrs[i]);
        memset(ptrs[i], (int)(i & 0xFF), size);
    }
    /* Had two allocations shared bytes, a later memset would show in an earlier one. */
    for (size_t i = 0; i < N; i++) {
        size_t size = 1 + i % 37;
        for (size_t k = 0; k < size; k++)
            if (ptrs[i][k] != (unsigned char)(i & 0xFF))
                fail_msg("allocation %zu byte %zu was overwritten", i, k);
    }
    free(ptrs);
    gw_arena_destroy(a);
}

static void test_huge_allocation(void **state)
{
    (void)state;
    struct gw_arena *a = gw_arena_create(1024);
    assert_non_null(a);
    char *small = gw_arena_strdup(a, "before");
    assert_non_null(small);

    size_t big = 3u << 20; /* bigger than any chunk the arena grows to */
    unsigned char *p = gw_arena_alloc(a, big);
    assert_non_null(p);
    assert_true(is_aligned(p));
    memset(p, 0x5A, big); /* ASan would catch a short chunk here */

    char *after = gw_arena_strdup(a, "after");
    assert_non_null(after);
    char *more = gw_arena_alloc(a, 100000);
    assert_non_null(more);
    memset(more, 0, 100000);

    assert_string_equal(small, "before");
    assert_string_equal(after, "after");
    assert_int_equal(p[0], 0x5A);
    assert_int_equal(p[big - 1], 0x5A);
    gw_arena_destroy(a);
}

static void test_strings(void **state)
{
    (void)state;
    struct gw_arena *a = gw_arena_create(256);
    assert_non_null(a);

    const char *src = "hello world";
    char *d = gw_arena_strdup(a, src);
    assert_string_equal(d, "hello world");
    assert_ptr_not_equal(d, src);

    char *n = gw_arena_strndup(a, src, 5);
    assert_string_equal(n, "hello");
    assert_string_equal(gw_arena_strndup(a, src, 0), "");
    assert_string_equal(gw_arena_strdup(a, ""), "");
    /* strndup copies exactly n bytes, UTF-8 included. */
    assert_string_equal(gw_arena_strndup(a, "工单SR", 6), "工单");

    assert_string_equal(gw_arena_printf(a, "%s%06d", "SR-", 123), "SR-000123");
    assert_string_equal(gw_arena_printf(a, "api:%s", "x-1"), "api:x-1");
    assert_string_equal(gw_arena_printf(a, "%s", ""), "");

    /* Longer than the first chunk. */
    char big[5000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *bp = gw_arena_printf(a, "<%s>", big);
    assert_non_null(bp);
    assert_int_equal(strlen(bp), sizeof(big) + 1);
    assert_int_equal(bp[0], '<');
    assert_int_equal(bp[1], 'q');
    assert_int_equal(bp[sizeof(big)], '>');
    char *bd = gw_arena_strdup(a, big);
    assert_string_equal(bd, big);

    /* Earlier strings are untouched by the later ones. */
    assert_string_equal(d, "hello world");
    assert_string_equal(n, "hello");
    gw_arena_destroy(a);
}

static void all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            fail_msg("byte %zu of %zu is 0x%02x", i, n, p[i]);
}

static void test_zalloc_zeroes(void **state)
{
    (void)state;
    struct gw_arena *a = gw_arena_create(4096);
    assert_non_null(a);
    static const size_t sizes[] = {1, 7, 16, 100, 1000, 3000, 70000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* Dirty the arena first so zeroes cannot come from fresh memory alone. */
        unsigned char *dirty = gw_arena_alloc(a, 64);
        assert_non_null(dirty);
        memset(dirty, 0xFF, 64);
        unsigned char *z = gw_arena_zalloc(a, sizes[i]);
        assert_non_null(z);
        all_zero(z, sizes[i]);
    }
    gw_arena_destroy(a);
}

/*
 * Runs one allocation in a child so that a wild write (ASan abort) fails this
 * test instead of the whole program. The child exits 0 when alloc returned NULL.
 */
static int child_alloc_returns_null(size_t size)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct gw_arena *a = gw_arena_create(256);
        void *p = a ? gw_arena_alloc(a, size) : (void *)1;
        _exit(p == NULL ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_impossible_sizes_return_null(void **state)
{
    (void)state;
    /* Sizes whose rounding or chunk header would wrap around SIZE_MAX. */
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 7, SIZE_MAX - 16, SIZE_MAX - 31};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (!child_alloc_returns_null(sizes[i]))
            fail_msg("gw_arena_alloc(SIZE_MAX - %zu) did not return NULL", SIZE_MAX - sizes[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_destroy),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_many_small_do_not_overlap),
        cmocka_unit_test(test_huge_allocation),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_zalloc_zeroes),
        cmocka_unit_test(test_impossible_sizes_return_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
