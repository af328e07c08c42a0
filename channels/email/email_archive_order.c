/*
 * The order an archive's messages are imported in. Registration threads a
 * reply onto the ticket of a message it answers only when that message is
 * stored already, and archives are seldom in the order mail was written
 * (a Maildir's files have no order at all; an mbox appended from several
 * folders runs back in time). So a first pass reads every message's header
 * block (GMime, on the headers alone: a few microseconds each) for its
 * Date, Message-ID, In-Reply-To and References, and the import goes by
 * date, except that a message comes after the message it answers (or its
 * thread's first) when the archive holds that one, whatever the dates say:
 * a sender's wrong clock must not split a thread. The desk's own messages
 * count as their customer's (the address they were written to), so that a
 * conversation the desk began goes with the customer's other mail. Reading
 * the whole archive
 * twice costs a second parse of each header block; the alternative, merging
 * tickets after the fact, would rewrite stored tickets and their numbers.
 */
#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "email.h"
#include "email_archive.h"
#include "email_desk.h"

/* Header blocks are read up to this; a longer one keeps the date of its archive. */
#define MAX_HEADER_BYTES (256u * 1024)
#define NONE             SIZE_MAX

/* 64-bit FNV-1a of a message id; 0 stands for none. */
static unsigned long long id_hash(const char *id)
{
    if (!id || !*id)
        return 0;
    unsigned long long h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h ? h : 1;
}

/* The length of the header block at p: up to and with its empty line. */
static size_t header_block(const unsigned char *p, size_t n)
{
    if (n > MAX_HEADER_BYTES)
        n = MAX_HEADER_BYTES;
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\n' &&
            (p[i + 1] == '\n' || (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')))
            return i + 1;
    return n;
}

/* The first and last id of a header's references; 0 when none. */
static void references(GMimeMessage *m, const char *name, unsigned long long *first,
                       unsigned long long *last)
{
    const char *v = g_mime_object_get_header(GMIME_OBJECT(m), name);
    GMimeReferences *list = v ? g_mime_references_parse(NULL, v) : NULL;
    int n = list ? g_mime_references_length(list) : 0;
    *first = n ? id_hash(g_mime_references_get_message_id(list, 0)) : 0;
    *last = n ? id_hash(g_mime_references_get_message_id(list, n - 1)) : 0;
    if (list)
        g_mime_references_free(list);
}

static void read_headers(const unsigned char *p, size_t n, struct gw_mail_entry *e,
                         const struct gw_email_desk *desk)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)p, header_block(p, n));
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (!m)
        return;
    GDateTime *d = g_mime_message_get_date(m);
    long long t = d ? g_date_time_to_unix(d) : 0;
    if (gw_email_date_is_sane(t))
        e->date = t;
    e->id = id_hash(g_mime_message_get_message_id(m));
    unsigned long long first, last, reply_first, reply_last;
    references(m, "References", &first, &last);
    references(m, "In-Reply-To", &reply_first, &reply_last);
    e->root = first;
    e->parent = reply_last ? reply_last : last;
    InternetAddressList *from = g_mime_message_get_from(m);
    InternetAddress *ia = from && internet_address_list_length(from) > 0
                              ? internet_address_list_get_address(from, 0)
                              : NULL;
    const char *addr = ia && INTERNET_ADDRESS_IS_MAILBOX(ia)
                           ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia))
                           : NULL;
    gchar *lower = addr && *addr ? g_ascii_strdown(addr, -1) : NULL;
    if (desk && (e->from_desk || gw_email_desk_has(desk, lower))) {
        g_free(lower);
        lower = gw_email_desk_recipient(desk, m);
    }
    e->sender = id_hash(lower);
    g_free(lower);
    g_object_unref(m);
}

/* The first bytes of a Maildir file, enough for its header block. */
static void read_file_headers(const struct gw_mail_archive *a, struct gw_mail_entry *e,
                              unsigned char *buf, const struct gw_email_desk *desk)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", a->path, e->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t got = 0;
    ssize_t r;
    while (got < MAX_HEADER_BYTES && (r = read(fd, buf + got, MAX_HEADER_BYTES - got)) > 0)
        got += (size_t)r;
    close(fd);
    read_headers(buf, got, e, desk);
}

static int by_date(const void *x, const void *y, void *user)
{
    const struct gw_mail_entry *entries = user;
    const struct gw_mail_entry *a = &entries[*(const size_t *)x], *b = &entries[*(const size_t *)y];
    if (a->date != b->date)
        return a->date < b->date ? -1 : 1;
    return a->number < b->number ? -1 : a->number > b->number;
}

struct ordering {
    struct gw_mail_archive *a;
    GHashTable *by_id;    /* id hash -> index + 1 (its first message) */
    bool *placed;         /* placed in the order yet */
    size_t *first_waiter; /* per message: the first message waiting for it */
    size_t *next_waiter;  /* per message: the next one waiting for the same */
    size_t *stack;
    size_t n_order;
};

/* The message of the archive that e answers (else its thread's first), or NONE. */
static size_t answered(const struct ordering *o, size_t i)
{
    const struct gw_mail_entry *e = &o->a->entries[i];
    unsigned long long keys[] = {e->parent, e->root};
    for (size_t k = 0; k < 2; k++) {
        if (!keys[k])
            continue;
        size_t j = GPOINTER_TO_SIZE(g_hash_table_lookup(o->by_id, &keys[k]));
        if (j && j - 1 != i)
            return j - 1;
    }
    return NONE;
}

/* Places i and then everything that waited for it (and for those, ...). */
static void place(struct ordering *o, size_t i)
{
    size_t depth = 0;
    o->stack[depth++] = i;
    while (depth) {
        size_t j = o->stack[--depth];
        if (o->placed[j])
            continue; /* it waited in a circle that came back to it */
        struct gw_mail_entry *e = &o->a->entries[j];
        size_t p = answered(o, j);
        e->thread_key = p != NONE && o->placed[p] ? o->a->entries[p].thread_key
                        : e->sender               ? e->sender
                                                  : e->number;
        o->placed[j] = true;
        o->a->order[o->n_order++] = j;
        for (size_t w = o->first_waiter[j]; w != NONE; w = o->next_waiter[w])
            o->stack[depth++] = w;
        o->first_waiter[j] = NONE;
    }
}

/* Places i now, or after the message it answers when that one is not placed yet. */
static void place_or_wait(struct ordering *o, size_t i, bool wait)
{
    size_t p = wait ? answered(o, i) : NONE;
    if (p != NONE && !o->placed[p]) {
        o->next_waiter[i] = o->first_waiter[p];
        o->first_waiter[p] = i;
        return;
    }
    place(o, i);
}

enum gw_err gw_mail_archive_order(struct gw_mail_archive *a, const struct gw_email_desk *desk)
{
    size_t n = a->n;
    unsigned char *buf = malloc(MAX_HEADER_BYTES);
    size_t *sorted = malloc((n ? n : 1) * sizeof(*sorted));
    struct ordering o = {.a = a,
                         .by_id = g_hash_table_new(g_int64_hash, g_int64_equal),
                         .placed = calloc(n ? n : 1, sizeof(bool)),
                         .first_waiter = malloc((n ? n : 1) * sizeof(size_t)),
                         .next_waiter = malloc((n ? n : 1) * sizeof(size_t)),
                         .stack = malloc((n + 1) * sizeof(size_t))};
    a->order = malloc((n ? n : 1) * sizeof(*a->order));
    enum gw_err err = GW_ERR_NOMEM;
    if (!buf || !sorted || !o.placed || !o.first_waiter || !o.next_waiter || !o.stack || !a->order)
        goto out;
    long long previous = 0;
    for (size_t i = 0; i < n; i++) {
        struct gw_mail_entry *e = &a->entries[i];
        e->date = 0;
        if (e->name)
            read_file_headers(a, e, buf, desk);
        else
            read_headers(a->map + e->start, (size_t)(e->end - e->start), e, desk);
        /* Undated: where the archive put it, beside its neighbour. */
        if (!e->date)
            e->date = e->archive_date ? e->archive_date : previous;
        previous = e->date;
        if (e->id && !g_hash_table_contains(o.by_id, &e->id))
            g_hash_table_insert(o.by_id, &e->id, GSIZE_TO_POINTER(i + 1));
        sorted[i] = i;
        o.first_waiter[i] = o.next_waiter[i] = NONE;
    }
    qsort_r(sorted, n, sizeof(*sorted), by_date, a->entries);
    for (size_t k = 0; k < n; k++)
        place_or_wait(&o, sorted[k], true);
    /* Messages that answer each other in a circle: by date. */
    for (size_t k = 0; k < n; k++)
        if (!o.placed[sorted[k]])
            place_or_wait(&o, sorted[k], false);
    err = o.n_order == n ? GW_OK : GW_ERR_INVALID;
out:
    if (err != GW_OK) {
        free(a->order);
        a->order = NULL;
    }
    g_hash_table_destroy(o.by_id);
    free(o.placed);
    free(o.first_waiter);
    free(o.next_waiter);
    free(o.stack);
    free(sorted);
    free(buf);
    return err;
}
