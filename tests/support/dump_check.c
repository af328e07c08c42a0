/*
 * The privacy tests' look at everything stored (dump_check.h). pg_dump, not
 * a list of tables, so that a column added later cannot hide data from them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dump_check.h"

char *dump_check_rows(const char *url)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "pg_dump --data-only '%s'", url);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 22, len = 0, n;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 >= cap) {
            buf = realloc(buf, cap *= 2);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    assert_int_equal(pclose(p), 0);
    return buf;
}

bool dump_check_holds(const char *dump_text, const char *s)
{
    char hex[256] = "";
    for (size_t i = 0; s[i] && i < 120; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)s[i]);
    return strstr(dump_text, s) || strstr(dump_text, hex);
}
