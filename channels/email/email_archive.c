/*
 * Mail archives for `intake import-mail`: an mbox file or a Maildir folder,
 * listed as messages with where each one is, and read one at a time.
 *
 * An mbox is mapped into memory and split here rather than by GMime's mbox
 * mode: the import keeps every message's exact bytes (message_sources) and
 * reports refusals by byte offset, and GMime hands back parsed objects, not
 * the bytes between two "From " lines, nor does it undo the ">From "
 * escaping. A separator is a "From " line at the start of the file or after
 * an empty line that carries a time (hh:mm), as mbox writers make them, so
 * a body line "From here on ..." that an mboxo writer left unescaped does
 * not split a message. Reading undoes mboxrd's escaping (one '>' off every
 * ">From ", ">>From " ... line), which is also right for mboxo but for a
 * line that was ">From " before it was written.
 *
 * A Maildir is its cur/ and new/ folders, and those of its subfolders that
 * are Maildirs: Maildir++ (".Name/", as dovecot and courier keep them) or a
 * folder of Maildirs ("Name/", as mbsync and offlineimap write them). Files
 * are listed by name, which starts with the
 * time of delivery, so the archive's order is stable between runs. The
 * subfolders of mail that is nobody's contact (drafts, deleted and junk
 * mail, an outbox of mail not sent yet) are left out and named in the
 * summary; such a folder given by its own path is imported like any
 * Maildir. A Sent folder is read (as is a folder or mbox file given by its
 * own path whose name says Sent): its messages are the desk's own, whatever
 * their From says (gw_mail_entry.from_desk), which the import stores as the
 * desk's replies.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "email.h"
#include "email_archive.h"

#define MAX_SEPARATOR_LINE 1024

static bool add_entry(struct gw_mail_archive *a, const struct gw_mail_entry *e)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        struct gw_mail_entry *grown = realloc(a->entries, cap * sizeof(*grown));
        if (!grown)
            return false;
        a->entries = grown;
        a->cap = cap;
    }
    a->entries[a->n] = *e;
    a->entries[a->n].number = (unsigned)(a->n + 1);
    a->n++;
    return true;
}

/* Whether the line [p, p + n) is an mbox separator: "From " and a time. */
static bool is_separator(const unsigned char *p, size_t n)
{
    if (n < 5 || n > MAX_SEPARATOR_LINE || memcmp(p, "From ", 5))
        return false;
    for (size_t i = 5; i + 5 <= n; i++)
        if (g_ascii_isdigit(p[i]) && g_ascii_isdigit(p[i + 1]) && p[i + 2] == ':' &&
            g_ascii_isdigit(p[i + 3]) && g_ascii_isdigit(p[i + 4]))
            return true;
    return false;
}

/* The date a separator line carries ("From sender Sat Jan  3 01:05:34 1996"); 0: none. */
static long long separator_date(const unsigned char *p, size_t n)
{
    const unsigned char *sp = memchr(p + 5, ' ', n - 5);
    if (!sp)
        return 0;
    gchar *text = g_strndup((const char *)sp + 1, (gsize)(p + n - sp - 1));
    GDateTime *d = g_mime_utils_header_decode_date(text);
    long long t = d ? g_date_time_to_unix(d) : 0;
    if (d)
        g_date_time_unref(d);
    g_free(text);
    return gw_email_date_is_sane(t) ? t : 0;
}

/* A line's length without its line end ("\n" or "\r\n"). */
static size_t line_length(const unsigned char *p, const unsigned char *nl)
{
    size_t n = (size_t)(nl - p);
    return n && p[n - 1] == '\r' ? n - 1 : n;
}

static int split_mbox(struct gw_mail_archive *a)
{
    const unsigned char *base = a->map, *end = a->map + a->map_len;
    struct gw_mail_entry cur = {0};
    bool open = false, blank_before = true;
    for (const unsigned char *p = base; p < end;) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *next = nl ? nl + 1 : end;
        size_t n = line_length(p, nl ? nl : end);
        if (blank_before && is_separator(p, n)) {
            if (open) {
                /* The empty line before the separator belongs to the mbox, not the message. */
                unsigned long long stop = (unsigned long long)(p - base);
                stop -= (stop >= 2 && base[stop - 2] == '\r') ? 2 : 1;
                cur.end = stop > cur.start ? stop : cur.start;
                if (!add_entry(a, &cur))
                    return -1;
            }
            memset(&cur, 0, sizeof(cur));
            cur.offset = (unsigned long long)(p - base);
            cur.start = (unsigned long long)(next - base);
            cur.archive_date = separator_date(p, n);
            open = true;
        }
        blank_before = n == 0;
        p = next;
    }
    if (open) {
        cur.end = a->map_len;
        if (!add_entry(a, &cur))
            return -1;
    }
    return 0;
}

/* What a file that is not an mbox looks like, for the error. */
static const char *not_mbox_reason(const unsigned char *p, size_t n)
{
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return "compressed (gzip): unpack it first";
    size_t i = 0;
    while (i < n && i < 80 && p[i] > ' ' && p[i] < 0x7F && p[i] != ':')
        i++;
    if (i > 0 && i < n && p[i] == ':')
        return "one message, not an mbox: it does not start with a \"From \" line "
               "(`intake ingest-email` takes one message)";
    return "an mbox starts with a \"From \" line";
}

/* Whether a folder's name (".INBOX.Trash", "Junk", "Sent.mbox") is one of kinds. */
static bool folder_is(const char *name, const char *const *kinds, size_t n)
{
    gchar *base = g_path_get_basename(name);
    size_t len = strlen(base);
    if (len > 5 && !g_ascii_strcasecmp(base + len - 5, ".mbox"))
        base[len - 5] = '\0';
    const char *last = strrchr(base, '.');
    last = last ? last + 1 : base;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = !g_ascii_strcasecmp(last, kinds[i]);
    g_free(base);
    return found;
}

/* Whether a subfolder holds no contact of anyone's: drafts, deleted, junk, unsent mail. */
static bool is_left_out(const char *name)
{
    static const char *const kinds[] = {
        "drafts", "trash",       "deleted items", "deleted messages",
        "junk",   "junk e-mail", "spam",          "outbox"};
    return folder_is(name, kinds, sizeof(kinds) / sizeof(kinds[0]));
}

/* Whether a folder holds the mail its mailbox sent (".Sent", "Sent Items", "Sent.mbox"). */
static bool is_sent(const char *name)
{
    static const char *const kinds[] = {"sent", "sent items", "sent messages", "sent mail"};
    return folder_is(name, kinds, sizeof(kinds) / sizeof(kinds[0]));
}

static int open_mbox(struct gw_mail_archive *a, int fd, const struct stat *st, char *why,
                     size_t cap)
{
    a->map_len = (size_t)st->st_size;
    if (a->map_len == 0)
        return 0; /* an empty mbox holds no messages */
    void *map = mmap(NULL, a->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        snprintf(why, cap, "%s: cannot read it: %s", a->path, strerror(errno));
        return EX_NOINPUT;
    }
    a->map = map;
    madvise(map, a->map_len, MADV_SEQUENTIAL);
    if (a->map_len < 5 || memcmp(a->map, "From ", 5)) {
        snprintf(why, cap, "%s: not an mbox (%s)", a->path, not_mbox_reason(a->map, a->map_len));
        return EX_DATAERR;
    }
    if (split_mbox(a) != 0) {
        snprintf(why, cap, "%s: out of memory listing its messages", a->path);
        return EX_OSERR;
    }
    if (is_sent(a->path))
        for (size_t i = 0; i < a->n; i++)
            a->entries[i].from_desk = true;
    return 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether dir/sub is a Maildir: it has cur/ and new/. */
static bool is_maildir(const char *dir, const char *sub)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s%scur", dir, sub, *sub ? "/" : "");
    if (!is_dir(path))
        return false;
    snprintf(path, sizeof(path), "%s/%s%snew", dir, sub, *sub ? "/" : "");
    return is_dir(path);
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Adds the files of dir/folder (cur or new of a Maildir), sorted by name; sent: a Sent folder's. */
static int list_folder(struct gw_mail_archive *a, const char *folder, bool sent)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", a->path, folder);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    GPtrArray *names = g_ptr_array_new();
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            g_ptr_array_add(names, g_string_chunk_insert(a->names, de->d_name));
    closedir(d);
    if (names->len > 1)
        qsort(names->pdata, names->len, sizeof(gpointer), by_name);
    int rc = 0;
    for (guint i = 0; i < names->len && rc == 0; i++) {
        gchar *rel = g_strdup_printf("%s/%s", folder, (const char *)names->pdata[i]);
        struct gw_mail_entry e = {.name = g_string_chunk_insert(a->names, rel), .from_desk = sent};
        g_free(rel);
        /* Maildir names start with the second the message was delivered. */
        const char *digits = names->pdata[i];
        long long t = g_ascii_strtoll(digits, NULL, 10);
        e.archive_date = gw_email_date_is_sane(t) ? t : 0;
        if (!add_entry(a, &e))
            rc = -1;
    }
    g_ptr_array_free(names, TRUE);
    return rc;
}

/* The Maildir's own cur/ and new/, then each subfolder's that is a Maildir, by name. */
static int open_maildir(struct gw_mail_archive *a, char *why, size_t cap)
{
    GPtrArray *folders = g_ptr_array_new_with_free_func(g_free);
    if (is_maildir(a->path, ""))
        g_ptr_array_add(folders, g_strdup(""));
    DIR *d = opendir(a->path);
    if (!d) {
        g_ptr_array_free(folders, TRUE);
        snprintf(why, cap, "%s: cannot read it: %s", a->path, strerror(errno));
        return EX_NOINPUT;
    }
    GPtrArray *subs = g_ptr_array_new_with_free_func(g_free);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            !is_maildir(a->path, de->d_name))
            continue;
        if (!is_left_out(de->d_name)) {
            g_ptr_array_add(subs, g_strdup(de->d_name));
            continue;
        }
        if (!a->left_out)
            a->left_out = g_string_new(NULL);
        g_string_append_printf(a->left_out, "%s%s", a->left_out->len ? ", " : "", de->d_name);
    }
    closedir(d);
    if (subs->len > 1)
        qsort(subs->pdata, subs->len, sizeof(gpointer), by_name);
    for (guint i = 0; i < subs->len; i++)
        g_ptr_array_add(folders, g_strdup(subs->pdata[i]));
    g_ptr_array_free(subs, TRUE);
    int rc = 0;
    if (folders->len == 0) {
        snprintf(why, cap,
                 "%s: not a Maildir (it has no cur/ and new/ folders, nor subfolders "
                 "with them)",
                 a->path);
        rc = EX_DATAERR;
    }
    for (guint i = 0; i < folders->len && rc == 0; i++) {
        const char *f = folders->pdata[i];
        char cur[512], new_[512];
        snprintf(cur, sizeof(cur), "%s%scur", f, *f ? "/" : "");
        snprintf(new_, sizeof(new_), "%s%snew", f, *f ? "/" : "");
        bool sent = is_sent(*f ? f : a->path);
        if (list_folder(a, cur, sent) != 0 || list_folder(a, new_, sent) != 0) {
            snprintf(why, cap, "%s: cannot list %s: %s", a->path, *f ? f : "cur/ or new/",
                     strerror(errno));
            rc = EX_NOINPUT;
        }
    }
    g_ptr_array_free(folders, TRUE);
    return rc;
}

int gw_mail_archive_open(const char *path, struct gw_mail_archive **out, char *why, size_t cap)
{
    struct gw_mail_archive *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(why, cap, "out of memory");
        return EX_OSERR;
    }
    a->path = g_strdup(path);
    a->names = g_string_chunk_new(65536);
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        rc = EX_NOINPUT;
    } else if (S_ISDIR(st.st_mode)) {
        a->kind = "Maildir";
        rc = open_maildir(a, why, cap);
    } else if (S_ISREG(st.st_mode)) {
        a->kind = "mbox";
        rc = open_mbox(a, fd, &st, why, cap);
    } else {
        snprintf(why, cap, "%s: neither a file (mbox) nor a folder (Maildir)", path);
        rc = EX_NOINPUT;
    }
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        gw_mail_archive_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void gw_mail_archive_close(struct gw_mail_archive *a)
{
    if (!a)
        return;
    if (a->map)
        munmap((void *)a->map, a->map_len);
    free(a->entries);
    free(a->order);
    g_string_chunk_free(a->names);
    if (a->left_out)
        g_string_free(a->left_out, TRUE);
    g_free(a->path);
    free(a);
}

size_t gw_mail_archive_count(const struct gw_mail_archive *a)
{
    return a->n;
}

const char *gw_mail_archive_left_out(const struct gw_mail_archive *a)
{
    return a->left_out ? a->left_out->str : NULL;
}

const char *gw_mail_archive_kind(const struct gw_mail_archive *a)
{
    return a->kind;
}

const struct gw_mail_entry *gw_mail_archive_entry(const struct gw_mail_archive *a, size_t i)
{
    return &a->entries[a->order ? a->order[i] : i];
}

/* Whether p (a line start) begins ">...>From ". */
static bool is_escaped_from(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p == '>')
        p++;
    return end - p >= 5 && !memcmp(p, "From ", 5);
}

/* The message's bytes with one '>' taken off every escaped "From " line. */
static const unsigned char *unescape(const unsigned char *p, size_t n, struct gw_arena *arena,
                                     size_t *len)
{
    const unsigned char *end = p + n;
    bool any = false;
    for (const unsigned char *line = p; line < end && !any;) {
        any = *line == '>' && is_escaped_from(line, end);
        const unsigned char *nl = memchr(line, '\n', (size_t)(end - line));
        line = nl ? nl + 1 : end;
    }
    if (!any) {
        *len = n;
        return p;
    }
    unsigned char *out = gw_arena_alloc(arena, n ? n : 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *line = p; line < end;) {
        const unsigned char *nl = memchr(line, '\n', (size_t)(end - line));
        const unsigned char *next = nl ? nl + 1 : end;
        if (*line == '>' && is_escaped_from(line, end))
            line++;
        memcpy(o, line, (size_t)(next - line));
        o += next - line;
        line = next;
    }
    *len = (size_t)(o - out);
    return out;
}

static const unsigned char *read_file(const struct gw_mail_archive *a, const char *name, size_t max,
                                      struct gw_arena *arena, size_t *len, const char **why)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", a->path, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        *why = errno == ENOENT ? "cannot read it: it is gone (moved while importing?)"
                               : "cannot read it";
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        *why = "too large";
        return NULL;
    }
    unsigned char *buf = gw_arena_alloc(arena, (size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        *why = buf ? "cannot read it" : "out of memory";
        return NULL;
    }
    *len = got;
    return buf;
}

const unsigned char *gw_mail_archive_read(const struct gw_mail_archive *a,
                                          const struct gw_mail_entry *e, size_t max,
                                          struct gw_arena *arena, size_t *len, const char **why)
{
    if (e->name)
        return read_file(a, e->name, max, arena, len, why);
    if (e->end - e->start > max) {
        *why = "too large";
        return NULL;
    }
    const unsigned char *p = unescape(a->map + e->start, (size_t)(e->end - e->start), arena, len);
    if (!p)
        *why = "out of memory";
    return p;
}

const char *gw_mail_archive_where(const struct gw_mail_archive *a, const struct gw_mail_entry *e,
                                  struct gw_arena *arena)
{
    (void)a;
    if (e->name)
        return gw_arena_printf(arena, "message %u (%s)", e->number, e->name);
    return gw_arena_printf(arena, "message %u (byte offset %llu)", e->number, e->offset);
}
