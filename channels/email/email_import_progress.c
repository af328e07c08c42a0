/*
 * What `intake import-mail` tells the person running it: on a terminal one
 * progress line redrawn in place (count, rate, time left), otherwise a plain
 * line every few seconds (a log, a CI job), and at the end a summary with
 * every refusal and its reason. Reasons are the parser's and the
 * database's fixed sentences and places in the archive: never an address,
 * a subject or a line of text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "email_import.h"

#define TTY_REDRAW_S 0.2
/* Refusals listed one by one; past this, a count. */
#define MAX_LISTED 200

double gw_import_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void gw_import_progress_init(struct gw_import_progress *p, size_t total, double interval_s)
{
    memset(p, 0, sizeof(*p));
    p->total = total;
    p->interval_s = interval_s;
    p->tty = isatty(STDERR_FILENO);
    p->started = p->last = gw_import_now();
}

/* "1:02:03", "2:03" or "45 s". */
static void duration(char *out, size_t cap, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60)
        snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
    else
        snprintf(out, cap, "%ld s", t);
}

void gw_import_progress_tick(struct gw_import_progress *p, size_t done, bool force)
{
    double now = gw_import_now();
    /* Nothing stored yet: no rate to tell, nor anything the next run would skip. */
    if (!force && (done == 0 || now - p->last < (p->tty ? TTY_REDRAW_S : p->interval_s)))
        return;
    p->last = now;
    double elapsed = now - p->started;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    char left[32];
    if (rate > 0)
        duration(left, sizeof(left), (double)(p->total - done) / rate);
    else
        snprintf(left, sizeof(left), "?");
    int pct = p->total ? (int)(100.0 * (double)done / (double)p->total) : 100;
    if (p->tty) {
        fprintf(stderr, "\r%zu/%zu messages (%d%%), %.0f/s, %s left\033[K", done, p->total, pct,
                rate, left);
        p->drawn = true;
    } else {
        fprintf(stderr, "import-mail: %zu/%zu messages (%d%%), %.0f messages/s, about %s left\n",
                done, p->total, pct, rate, left);
    }
    fflush(stderr);
}

void gw_import_progress_end(struct gw_import_progress *p)
{
    if (p->tty && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/* Appends "where: reason" to a list of at most MAX_LISTED lines. */
static void list_line(char ***lines, size_t *n, size_t *cap, const char *where, const char *reason)
{
    if (*n == MAX_LISTED)
        return;
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 16;
        char **grown = realloc(*lines, grown_cap * sizeof(*grown));
        if (!grown)
            return;
        *lines = grown;
        *cap = grown_cap;
    }
    char *line = NULL;
    if (asprintf(&line, "%s: %s", where, reason) >= 0)
        (*lines)[(*n)++] = line;
}

void gw_import_refuse(struct gw_import_tally *t, const char *where, const char *reason)
{
    t->refused++;
    list_line(&t->listed, &t->n_listed, &t->cap_listed, where, reason);
}

void gw_import_leave_out(struct gw_import_tally *t, const char *where, const char *reason)
{
    struct gw_import_lines *l = &t->left_out_lines;
    t->left_out++;
    list_line(&l->lines, &l->n, &l->cap, where, reason);
}

static void print_lines(char *const *lines, size_t n, size_t count)
{
    for (size_t i = 0; i < n; i++)
        printf("    %s\n", lines[i]);
    if (count > n)
        printf("    ... and %zu more\n", count - n);
}

void gw_import_summary(const struct gw_import_tally *t, const char *path, const char *kind,
                       size_t total, double seconds, const char *stopped, const char *left_out,
                       size_t desk_addresses)
{
    size_t done = t->imported + t->skipped + t->refused + t->left_out;
    printf("import-mail: %s (%s, %zu messages): %s %zu in %.1f s (%.0f messages/s)\n", path, kind,
           total, stopped ? "stopped after" : "done,", done, seconds,
           seconds > 0 ? (double)done / seconds : 0.0);
    printf("  imported: %zu (%zu new tickets, %zu sent by the desk)\n", t->imported, t->new_tickets,
           t->from_desk);
    printf("  already there: %zu\n", t->skipped);
    if (t->left_out) {
        printf("  left out: %zu (sent by the desk, belonging to no stored conversation)\n",
               t->left_out);
        print_lines(t->left_out_lines.lines, t->left_out_lines.n, t->left_out);
    }
    printf("  refused: %zu\n", t->refused);
    print_lines(t->listed, t->n_listed, t->refused);
    if (left_out)
        printf("  folders left out: %s (drafts, deleted, junk or unsent mail; give a folder's own "
               "path to import it)\n",
               left_out);
    if (!desk_addresses)
        printf("  the desk's own addresses: none known (channels.email.from_address, "
               "--own-address), so only a Sent folder's mail was taken for the desk's\n");
    if (stopped)
        printf("  %s; run the same command again to import the rest (what is stored is "
               "skipped)\n",
               stopped);
    fflush(stdout);
}

void gw_import_tally_free(struct gw_import_tally *t)
{
    for (size_t i = 0; i < t->n_listed; i++)
        free(t->listed[i]);
    free(t->listed);
    for (size_t i = 0; i < t->left_out_lines.n; i++)
        free(t->left_out_lines.lines[i]);
    free(t->left_out_lines.lines);
}
