/*
 * `intake import-mail FILE.mbox | DIR`: moves an archive of past mail in as
 * tickets, through the same parser and the same registration as live mail,
 * each message marked historical (gw_contact.historical: its own date,
 * resolved, nothing sent).
 *
 * Speed with the database's durability on comes from batches: a batch of
 * messages is one transaction (one WAL flush) sent as one pipeline; the
 * parse runs on a thread of its own while the database writes; and the
 * writing is split over a few connections (lanes), since one backend
 * registering one message after another is the bottleneck. A message goes
 * to the lane of the sender who began its thread (gw_mail_entry.thread_key),
 * so that a thread is registered in order on one connection, and one
 * customer's first messages do not race each other on two. The same batches
 * make it resumable: a batch is committed whole or not at all, so an import
 * killed at any moment leaves whole messages, and running it again skips
 * every message stored already by its idempotency key (its Message-ID, or
 * a hash of its content when it has none).
 *
 * The desk's own mail in the archive (from one of its addresses, or in a
 * Sent folder: email_desk.c) is parsed as the desk's (gw_contact.outbound)
 * and stored as its replies (db/functions/register_outbound.sql).
 *
 * Exit status: 0 done (refusals are listed, and running again would not
 * change them), 64 usage, 65 not an archive, 66 cannot read it, 75 the
 * database is away (nothing half-stored: run again), 78 the database lacks
 * this binary's schema, 128 + signal when interrupted.
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "email.h"
#include "email_desk.h"
#include "email_import.h"
#include "gw_config.h"
#include "gw_job.h"

/* As the MTA pipe's cap: mail providers cap messages at 25-35 MB. */
#define MAX_MESSAGE_BYTES (32u << 20)
#define DEFAULT_BATCH     250
#define MAX_BATCH         5000
/* A batch also ends at this many bytes of mail, so large messages do not pile up. */
#define BATCH_BYTES     (16u << 20)
#define QUEUE_BATCHES   3
#define DEFAULT_PLAIN_S 5.0

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* Parsed messages on their way to the database, and those refused on the way. */
struct batch {
    struct gw_arena *arena; /* everything of the batch: bytes read, contacts, documents */
    struct gw_intake_job *jobs;
    struct gw_intake_job **to_register;
    const struct gw_mail_entry **entries; /* of to_register, for the database's refusals */
    size_t n;
    const char **refused_where, **refused_why;
    size_t n_refused;
    size_t bytes;
    struct batch *next;
};

#define MAX_LANES     8
#define DEFAULT_LANES 2

struct import;

/* One connection and the batches bound for it. */
struct lane {
    struct import *im;
    struct gw_intake_session *session;
    pthread_t thread;
    struct batch *head, *tail;
    size_t queued;
    bool writing; /* its thread runs */
};

/* Everything below lock is shared by the parser, the lanes and the main thread. */
struct import {
    const struct gw_config *cfg;
    struct gw_mail_archive *archive;
    struct gw_email_desk *desk;
    struct gw_email_opts opts;
    size_t batch_max;
    struct lane lanes[MAX_LANES];
    size_t n_lanes;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool parsed_all; /* the parser is done (or stopped) */
    bool stop;       /* no more batches: a signal, or the database went away */
    bool away;       /* the database went away */
    size_t lanes_writing;
    struct gw_import_tally tally;
};

static void batch_free(struct batch *b)
{
    if (b) {
        gw_arena_destroy(b->arena);
        free(b);
    }
}

static struct batch *batch_new(size_t cap)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->arena = gw_arena_create(1u << 20);
    if (b->arena) {
        b->jobs = gw_arena_zalloc(b->arena, cap * sizeof(*b->jobs));
        b->to_register = gw_arena_zalloc(b->arena, cap * sizeof(*b->to_register));
        b->entries = gw_arena_zalloc(b->arena, cap * sizeof(*b->entries));
        b->refused_where = gw_arena_zalloc(b->arena, cap * sizeof(*b->refused_where));
        b->refused_why = gw_arena_zalloc(b->arena, cap * sizeof(*b->refused_why));
    }
    if (!b->arena || !b->jobs || !b->to_register || !b->entries || !b->refused_where ||
        !b->refused_why) {
        batch_free(b);
        return NULL;
    }
    return b;
}

static void refuse(struct import *im, struct batch *b, const struct gw_mail_entry *e,
                   const char *why)
{
    b->refused_where[b->n_refused] = gw_mail_archive_where(im->archive, e, b->arena);
    b->refused_why[b->n_refused++] = why;
}

/* One message into the batch: read, parsed, its registration document built. */
static void take_message(struct import *im, struct batch *b, const struct gw_mail_entry *e)
{
    size_t len = 0;
    const char *why = NULL;
    const unsigned char *raw =
        gw_mail_archive_read(im->archive, e, MAX_MESSAGE_BYTES, b->arena, &len, &why);
    if (!raw) {
        refuse(im, b, e,
               !strcmp(why, "too large") ? "larger than 32 MiB, the cap for one message" : why);
        return;
    }
    b->bytes += len;
    if (len == 0) {
        refuse(im, b, e, "not a message: it is empty");
        return;
    }
    struct gw_intake_job *job = &b->jobs[b->n];
    job->kind = GW_JOB_REGISTER;
    job->arena = b->arena;
    struct gw_contact *c = &job->contact;
    struct gw_email_opts opts = im->opts;
    opts.from_desk = e->from_desk;
    if (gw_email_parse(raw, len, &opts, b->arena, c, &why) != GW_OK) {
        refuse(im, b, e, gw_arena_printf(b->arena, "not a message: %s", why));
        return;
    }
    c->historical = true;
    /* One order for the whole import: the batch keeps the order decided for threads. */
    c->order_key = "import-mail";
    if (!c->received_at)
        c->received_at = e->archive_date ? (time_t)e->archive_date : (time_t)e->date;
    if (!c->received_at)
        c->received_at = time(NULL);
    if (gw_intake_job_prepare(im->cfg, job) != GW_OK) {
        refuse(im, b, e, "out of memory");
        return;
    }
    b->to_register[b->n] = job;
    b->entries[b->n++] = e;
}

static void push(struct lane *lane, struct batch *b)
{
    struct import *im = lane->im;
    pthread_mutex_lock(&im->lock);
    while (lane->queued >= QUEUE_BATCHES && !im->stop)
        pthread_cond_wait(&im->changed, &im->lock);
    if (im->stop) {
        pthread_mutex_unlock(&im->lock);
        batch_free(b);
        return;
    }
    if (lane->tail)
        lane->tail->next = b;
    else
        lane->head = b;
    lane->tail = b;
    lane->queued++;
    pthread_cond_broadcast(&im->changed);
    pthread_mutex_unlock(&im->lock);
}

static bool stopping(struct import *im)
{
    pthread_mutex_lock(&im->lock);
    bool stop = im->stop || stop_signal;
    pthread_mutex_unlock(&im->lock);
    return stop;
}

static void *parse_main(void *arg)
{
    struct import *im = arg;
    size_t n = gw_mail_archive_count(im->archive);
    struct batch *open[MAX_LANES] = {0};
    for (size_t i = 0; i < n && !stopping(im); i++) {
        const struct gw_mail_entry *e = gw_mail_archive_entry(im->archive, i);
        size_t k = (size_t)(e->thread_key % im->n_lanes);
        if (!open[k] && !(open[k] = batch_new(im->batch_max)))
            break;
        struct batch *b = open[k];
        take_message(im, b, e);
        if (b->n + b->n_refused == im->batch_max || b->bytes >= BATCH_BYTES) {
            push(&im->lanes[k], b);
            open[k] = NULL;
        }
    }
    for (size_t k = 0; k < im->n_lanes; k++)
        if (open[k])
            push(&im->lanes[k], open[k]);
    pthread_mutex_lock(&im->lock);
    im->parsed_all = true;
    pthread_cond_broadcast(&im->changed);
    pthread_mutex_unlock(&im->lock);
    return NULL;
}

/* The lane's next batch, or NULL once there is none to come (or the import stops). */
static struct batch *pop(struct lane *lane)
{
    struct import *im = lane->im;
    pthread_mutex_lock(&im->lock);
    while (!lane->head && !im->parsed_all && !im->stop)
        pthread_cond_wait(&im->changed, &im->lock);
    struct batch *b = im->stop ? NULL : lane->head;
    if (b) {
        lane->head = b->next;
        if (!lane->head)
            lane->tail = NULL;
        lane->queued--;
        pthread_cond_broadcast(&im->changed);
    }
    pthread_mutex_unlock(&im->lock);
    return b;
}

/* Registers a batch and counts what came of it (under the lock). */
static void store(struct lane *lane, struct batch *b)
{
    struct import *im = lane->im;
    bool away = false;
    if (b->n &&
        gw_intake_session_register(lane->session, b->to_register, b->n) == GW_ERR_DB_UNAVAILABLE)
        away = true;
    struct gw_import_tally *t = &im->tally;
    pthread_mutex_lock(&im->lock);
    for (size_t i = 0; i < b->n; i++) {
        const struct gw_intake_result *r = &b->to_register[i]->result;
        if (r->err == GW_OK && r->duplicate)
            t->skipped++;
        else if (r->err == GW_OK && r->left_out)
            gw_import_leave_out(t, gw_mail_archive_where(im->archive, b->entries[i], b->arena),
                                r->detail);
        else if (r->err == GW_OK) {
            t->imported++;
            t->new_tickets += r->new_ticket;
            t->from_desk += b->to_register[i]->contact.outbound;
        } else if (r->err == GW_ERR_DB_UNAVAILABLE)
            away = true; /* not stored: the next run takes it */
        else
            gw_import_refuse(t, gw_mail_archive_where(im->archive, b->entries[i], b->arena),
                             r->detail[0] ? r->detail : "the database refused it");
    }
    for (size_t i = 0; i < b->n_refused; i++)
        gw_import_refuse(t, b->refused_where[i], b->refused_why[i]);
    if (away)
        im->stop = im->away = true;
    pthread_cond_broadcast(&im->changed);
    pthread_mutex_unlock(&im->lock);
}

static void *lane_main(void *arg)
{
    struct lane *lane = arg;
    struct batch *b;
    while ((b = pop(lane)) != NULL) {
        store(lane, b);
        batch_free(b);
    }
    pthread_mutex_lock(&lane->im->lock);
    lane->im->lanes_writing--;
    pthread_cond_broadcast(&lane->im->changed);
    pthread_mutex_unlock(&lane->im->lock);
    return NULL;
}

/* Messages done so far; the lock is held. */
static size_t done_locked(const struct import *im)
{
    return im->tally.imported + im->tally.skipped + im->tally.refused + im->tally.left_out;
}

/* Waits for the lanes, drawing progress and passing a signal on; the lock is held. */
static void watch(struct import *im, struct gw_import_progress *progress)
{
    while (im->lanes_writing) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&im->changed, &im->lock, &until);
        if (stop_signal && !im->stop) {
            im->stop = true; /* batches in hand finish; the queued are dropped */
            pthread_cond_broadcast(&im->changed);
        }
        size_t done = done_locked(im);
        pthread_mutex_unlock(&im->lock);
        gw_import_progress_tick(progress, done, false);
        pthread_mutex_lock(&im->lock);
    }
}

static void drop_queued(struct import *im)
{
    for (size_t k = 0; k < im->n_lanes; k++) {
        struct batch *b = im->lanes[k].head;
        while (b) {
            struct batch *next = b->next;
            batch_free(b);
            b = next;
        }
        im->lanes[k].head = im->lanes[k].tail = NULL;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: intake import-mail [--connections N] [--batch N] "
                    "[--progress-seconds S] [--own-address ADDRESS|@DOMAIN ...] "
                    "FILE.mbox | MAILDIR\n");
    return EX_USAGE;
}

static bool number_arg(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int open_sessions(struct import *im)
{
    for (size_t k = 0; k < im->n_lanes; k++) {
        im->lanes[k].im = im;
        enum gw_err err = gw_intake_session_open(im->cfg, &im->lanes[k].session);
        if (err != GW_OK) {
            fprintf(stderr, "import-mail: %s\n",
                    err == GW_ERR_CONFIG ? "the database's schema is not this binary's: run "
                                           "`intake migrate` first"
                                         : "cannot reach the database; nothing was imported");
            return err == GW_ERR_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
        }
    }
    return EX_OK;
}

/* The archive through the parser thread and the lanes into the database; the exit status. */
static int run(struct import *im, const char *path, double plain_s)
{
    int rc = open_sessions(im);
    size_t total = gw_mail_archive_count(im->archive);
    struct gw_import_progress progress;
    gw_import_progress_init(&progress, total, plain_s);
    pthread_t parser;
    if (rc != EX_OK || pthread_create(&parser, NULL, parse_main, im) != 0)
        return rc != EX_OK ? rc : EX_OSERR;
    pthread_mutex_lock(&im->lock);
    for (size_t k = 0; k < im->n_lanes; k++)
        if (pthread_create(&im->lanes[k].thread, NULL, lane_main, &im->lanes[k]) == 0) {
            im->lanes[k].writing = true;
            im->lanes_writing++;
        }
    if (im->lanes_writing < im->n_lanes) {
        im->stop = true; /* a lane without its thread would leave its messages behind */
        pthread_cond_broadcast(&im->changed);
    }
    watch(im, &progress);
    pthread_mutex_unlock(&im->lock);
    pthread_join(parser, NULL);
    for (size_t k = 0; k < im->n_lanes; k++)
        if (im->lanes[k].writing)
            pthread_join(im->lanes[k].thread, NULL);
    drop_queued(im);
    size_t done = done_locked(im);
    const char *stopped = NULL;
    if (im->away) {
        stopped = "the database went away";
        rc = EX_TEMPFAIL;
    } else if (done < total) {
        /* Stopped early: on a signal, or without memory or threads. */
        stopped = stop_signal ? "interrupted" : "out of memory";
        rc = stop_signal ? 128 + stop_signal : EX_OSERR;
    }
    gw_import_progress_end(&progress);
    gw_import_summary(&im->tally, path, gw_mail_archive_kind(im->archive), total,
                      gw_import_now() - progress.started, stopped,
                      gw_mail_archive_left_out(im->archive), gw_email_desk_count(im->desk));
    return rc;
}

struct import_args {
    const char *path;
    double batch, plain_s, lanes;
};

/* The command line into args, --own-address into desk; EX_OK or the exit status. */
static int parse_args(int argc, char **argv, struct import_args *a, struct gw_email_desk *desk)
{
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--connections")) {
            if (!number_arg(value, 1, MAX_LANES, &a->lanes))
                return usage();
        } else if (!strcmp(argv[i], "--batch")) {
            if (!number_arg(value, 1, MAX_BATCH, &a->batch))
                return usage();
        } else if (!strcmp(argv[i], "--progress-seconds")) {
            if (!number_arg(value, 0.01, 86400, &a->plain_s))
                return usage();
        } else if (!strcmp(argv[i], "--own-address")) {
            if (!value || !gw_email_desk_add(desk, value)) {
                fprintf(stderr, "import-mail: --own-address takes an address (help@example.com) "
                                "or a domain (@example.com)\n");
                return EX_USAGE;
            }
        } else if (!strcmp(argv[i], "--help")) {
            usage();
            return -1;
        } else if (argv[i][0] == '-' || a->path)
            return usage();
        else {
            a->path = argv[i];
            continue;
        }
        i++; /* the option's value */
    }
    return a->path ? EX_OK : usage();
}

static int import_archive(struct import *im, const char *path, double plain_s)
{
    char why[512];
    int rc = gw_mail_archive_open(path, &im->archive, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "import-mail: %s\n", why);
        return rc;
    }
    if (gw_mail_archive_order(im->archive, im->desk) != GW_OK) {
        fprintf(stderr, "import-mail: out of memory ordering %zu messages\n",
                gw_mail_archive_count(im->archive));
        gw_mail_archive_close(im->archive);
        return EX_OSERR;
    }
    pthread_mutex_init(&im->lock, NULL);
    pthread_cond_init(&im->changed, NULL);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = run(im, path, plain_s);
    for (size_t k = 0; k < im->n_lanes; k++)
        gw_intake_session_close(im->lanes[k].session);
    gw_import_tally_free(&im->tally);
    pthread_cond_destroy(&im->changed);
    pthread_mutex_destroy(&im->lock);
    gw_mail_archive_close(im->archive);
    return rc;
}

int gw_email_import_command(int argc, char **argv, const struct gw_config *cfg)
{
    struct import_args a = {
        .batch = DEFAULT_BATCH, .plain_s = DEFAULT_PLAIN_S, .lanes = DEFAULT_LANES};
    struct import im = {.cfg = cfg, .desk = gw_email_desk_create()};
    int rc = parse_args(argc, argv, &a, im.desk);
    if (rc == EX_OK) {
        im.batch_max = (size_t)a.batch;
        im.n_lanes = (size_t)a.lanes;
        const json_t *section = gw_config_channel(cfg, GW_EMAIL_CHANNEL);
        im.opts.own_address = json_string_value(json_object_get(section, "from_address"));
        im.opts.ticket_prefix = cfg->ticket_prefix;
        im.opts.date_written = true;
        gw_email_desk_gather(im.desk, cfg);
        im.opts.desk = im.desk;
        rc = import_archive(&im, a.path, a.plain_s);
    }
    gw_email_desk_destroy(im.desk);
    return rc < 0 ? EX_OK : rc;
}
