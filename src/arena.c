/*
 * Bump allocator: a list of chunks, each request carved from the newest one.
 * Oversized requests get a chunk of their own. Alignment is max_align_t so any
 * struct can live here.
 */
#include "gw_arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct gw_arena {
    struct chunk *head;
    size_t chunk_size;
};

static struct chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct chunk))
        return NULL;
    struct chunk *c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct gw_arena *gw_arena_create(size_t first_chunk)
{
    struct gw_arena *a = malloc(sizeof(*a));
    if (!a)
        return NULL;
    a->chunk_size = first_chunk < 256 ? 256 : first_chunk;
    a->head = chunk_new(a->chunk_size);
    if (!a->head) {
        free(a);
        return NULL;
    }
    return a;
}

void gw_arena_destroy(struct gw_arena *arena)
{
    if (!arena)
        return;
    struct chunk *c = arena->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(arena);
}

void *gw_arena_alloc(struct gw_arena *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    size_t need = (size + align - 1) & ~(align - 1);
    if (need < size)
        return NULL;
    struct chunk *c = arena->head;
    if (c->size - c->used < need) {
        size_t grow = arena->chunk_size * 2;
        if (grow < need)
            grow = need;
        struct chunk *n = chunk_new(grow);
        if (!n)
            return NULL;
        arena->chunk_size = grow > (1u << 20) ? (1u << 20) : grow;
        n->next = c;
        arena->head = n;
        c = n;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

void *gw_arena_zalloc(struct gw_arena *arena, size_t size)
{
    void *p = gw_arena_alloc(arena, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *gw_arena_strndup(struct gw_arena *arena, const char *s, size_t n)
{
    char *p = gw_arena_alloc(arena, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *gw_arena_strdup(struct gw_arena *arena, const char *s)
{
    return gw_arena_strndup(arena, s, strlen(s));
}

char *gw_arena_printf(struct gw_arena *arena, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = gw_arena_alloc(arena, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
