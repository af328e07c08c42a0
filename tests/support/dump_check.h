/*
 * For the privacy tests (erase, retention): the whole database as pg_dump
 * writes its rows, and whether a piece of personal data is still anywhere
 * in it, as text or inside a bytea.
 */
#ifndef DUMP_CHECK_H
#define DUMP_CHECK_H

#include <stdbool.h>

/* `pg_dump --data-only` of the database at url (malloc'd; the test fails if pg_dump does). */
char *dump_check_rows(const char *url);
/* Whether the dump holds s (at most 120 bytes) as text or in hex inside a bytea. */
bool dump_check_holds(const char *dump_text, const char *s);

#endif
