/*
 * A bump allocator for one lifetime (one inbound contact, one outbox row).
 * Everything allocated from it is freed at once by gw_arena_destroy(); nothing
 * allocated from it may be freed on its own. Not thread-safe: one owner at a time.
 */
#ifndef GW_ARENA_H
#define GW_ARENA_H

#include <stddef.h>

struct gw_arena;

struct gw_arena *gw_arena_create(size_t first_chunk);
void gw_arena_destroy(struct gw_arena *arena);

/* All return NULL only when memory is exhausted. Returned memory is arena-owned. */
void *gw_arena_alloc(struct gw_arena *arena, size_t size);
void *gw_arena_zalloc(struct gw_arena *arena, size_t size);
char *gw_arena_strdup(struct gw_arena *arena, const char *s);
char *gw_arena_strndup(struct gw_arena *arena, const char *s, size_t n);
char *gw_arena_printf(struct gw_arena *arena, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
