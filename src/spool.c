/*
 * The spool directory and its queue (see gw_spool.h). The queue in memory
 * is the files' sequence numbers in arrival order, each with its size and
 * time, so that bounds and figures cost no directory scan; the files are
 * the truth, read again at start-up. A contact's number is taken under the
 * lock, but its file is written and fsync'd outside it so that workers
 * spooling at once wait for the disk together, not one after another; the
 * replayer takes contacts only up to the first one still being written, so
 * it never passes one that arrived earlier. Being unlinked once registered
 * without an fsync of the directory is safe: a file that comes back after a
 * crash is registered again as a duplicate of its key and goes.
 */
#include "gw_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_log.h"
#include "gw_register.h"
#include "spool_private.h"
#include "spool_record.h"

#define LOCK_NAME "lock"

void spool_name_of(uint64_t seq, const char *suffix, char out[40])
{
    snprintf(out, 40, "%020" PRIu64 "%s", seq, suffix);
}

static bool push(struct gw_spool *s, struct spool_entry e)
{
    if (s->head && s->head == s->n)
        s->head = s->n = 0;
    if (s->n == s->cap) {
        if (s->head > s->cap / 2) {
            memmove(s->q, s->q + s->head, (s->n - s->head) * sizeof(*s->q));
            s->n -= s->head;
            s->head = 0;
        } else {
            size_t cap = s->cap ? 2 * s->cap : 64;
            struct spool_entry *q = realloc(s->q, cap * sizeof(*q));
            if (!q)
                return false;
            s->q = q;
            s->cap = cap;
        }
    }
    s->q[s->n++] = e;
    return true;
}

/* The queue's entry for seq, or NULL; the oldest are looked at first. */
struct spool_entry *spool_find(struct gw_spool *s, uint64_t seq)
{
    for (size_t i = s->head; i < s->n; i++)
        if (s->q[i].seq == seq)
            return &s->q[i];
    return NULL;
}

void spool_drop(struct gw_spool *s, struct spool_entry *e)
{
    s->bytes -= e->bytes;
    s->ready -= e->ready;
    s->over_bound = false;
    size_t i = (size_t)(e - s->q);
    if (i == s->head)
        s->head++;
    else {
        memmove(e, e + 1, (s->n - i - 1) * sizeof(*e));
        s->n--;
    }
}

size_t spool_waiting(const struct gw_spool *s)
{
    return s->n - s->head;
}

/* The spool is empty again: the condition logged when it began ends. */
void spool_note_empty(struct gw_spool *s)
{
    if (spool_waiting(s))
        return;
    gw_log_end(SPOOL_LOG_ACTIVE, "spool: drained; %" PRIu64 " contacts replayed since start",
               s->replayed);
    gw_log_end(SPOOL_LOG_FULL, "spool: under its bounds again");
}

/* mkdir -p with mode 0700 for what it makes. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -1;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/*
 * The directory holds personal data: only its owner may enter it. A looser
 * mode (a volume made by root as 0755) is tightened, else said.
 */
static void keep_private(struct gw_spool *s)
{
    struct stat st;
    if (fstat(s->dirfd, &st) == 0 && (st.st_mode & 077) && fchmod(s->dirfd, 0700) != 0)
        gw_warn("spool: %s is mode %03o and cannot be made 0700 (%s): others may read the "
                "contacts spooled there",
                s->dir, (unsigned)(st.st_mode & 0777), strerror(errno));
}

/* Takes the directory's lock; says on stderr who holds it when another process does. */
static enum gw_err take_lock(struct gw_spool *s)
{
    s->lockfd = openat(s->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0) {
        fprintf(stderr, "spool: cannot open %s/%s: %s\n", s->dir, LOCK_NAME, strerror(errno));
        return GW_ERR_IO;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
        char pid[24] = "";
        ssize_t n = pread(s->lockfd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(stderr,
                "spool: %s is in use by another gateway (process %s); every gateway needs a "
                "spool.dir of its own\n",
                s->dir, *pid ? pid : "?");
        return GW_ERR_BUSY;
    }
    char pid[24];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(s->lockfd, 0) != 0 || pwrite(s->lockfd, pid, (size_t)len, 0) != len)
        gw_warn("spool: cannot write the process id into %s/%s", s->dir, LOCK_NAME);
    return GW_OK;
}

static int by_seq(const void *a, const void *b)
{
    const struct spool_entry *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* A file the queue holds: twenty digits and ".ev". */
static bool spool_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != 23 || strcmp(name + 20, ".ev"))
        return false;
    char *end;
    errno = 0;
    *seq = strtoull(name, &end, 10);
    return end == name + 20 && !errno;
}

/* Reads what an earlier run left: whole files join the queue, torn ones go. */
static enum gw_err scan(struct gw_spool *s)
{
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "spool: cannot read %s: %s\n", s->dir, strerror(errno));
        return GW_ERR_IO;
    }
    struct dirent *de;
    uint64_t seq;
    while ((de = readdir(d)) != NULL) {
        if (!spool_name(de->d_name, &seq))
            continue;
        char *buf = NULL, why[128];
        struct spool_record rec;
        enum spool_read r =
            spool_record_read(s->dirfd, de->d_name, SPOOL_FILE_MAX, &buf, &rec, why, sizeof(why));
        json_t *meta = r == SPOOL_READ_OK ? json_loadb(rec.meta, rec.meta_len, 0, NULL) : NULL;
        struct stat st;
        struct spool_entry e = {seq, 0, (time_t)json_integer_value(json_object_get(meta, "at")),
                                true};
        if (r == SPOOL_READ_OK && fstatat(s->dirfd, de->d_name, &st, 0) == 0)
            e.bytes = (uint64_t)st.st_size;
        json_decref(meta);
        free(buf);
        if (seq >= s->next_seq)
            s->next_seq = seq + 1; /* never reused, whatever becomes of this file */
        if (r == SPOOL_READ_IO) {
            gw_error("spool: %s/%s cannot be read (%s); left where it is, not replayed", s->dir,
                     de->d_name, why);
            continue;
        }
        if (r != SPOOL_READ_OK) {
            /* Never answered 200: its fsync, which the answer waits for, did not finish. */
            gw_warn("spool: %s/%s is torn (%s), left by a crash while it was written; removed",
                    s->dir, de->d_name, why);
            unlinkat(s->dirfd, de->d_name, 0);
            s->discarded++;
            continue;
        }
        if (!push(s, e)) {
            closedir(d);
            return GW_ERR_NOMEM;
        }
        s->bytes += e.bytes;
        s->ready++;
    }
    closedir(d);
    if (spool_waiting(s) > 1)
        qsort(s->q + s->head, spool_waiting(s), sizeof(*s->q), by_seq);
    if (spool_waiting(s))
        gw_log_begin(SPOOL_LOG_ACTIVE, GW_LOG_WARN,
                     "spool: spooling started: %zu contacts (%" PRIu64
                     " bytes) left by an earlier run, registered when the database answers",
                     spool_waiting(s), s->bytes);
    return GW_OK;
}

enum gw_err gw_spool_open(const struct gw_config *cfg, struct gw_spool **out)
{
    *out = NULL;
    if (!cfg->spool_dir)
        return GW_OK;
    struct gw_spool *s = calloc(1, sizeof(*s));
    if (!s)
        return GW_ERR_NOMEM;
    s->cfg = cfg;
    s->dir = strdup(cfg->spool_dir);
    s->lockfd = -1;
    s->next_seq = 1;
    pthread_mutex_init(&s->lock, NULL);
    if (make_dirs(cfg->spool_dir) != 0 ||
        (s->dirfd = open(cfg->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "spool: cannot use %s: %s\n", cfg->spool_dir, strerror(errno));
        s->dirfd = -1;
        gw_spool_close(s);
        return GW_ERR_IO;
    }
    keep_private(s);
    enum gw_err err = take_lock(s);
    if (err == GW_OK)
        err = scan(s);
    if (err != GW_OK) {
        gw_spool_close(s);
        return err;
    }
    gw_info("spool: %s (at most %zu bytes, contacts up to %d s old)", s->dir, cfg->spool_max_bytes,
            cfg->spool_max_age_s);
    *out = s;
    return GW_OK;
}

void gw_spool_close(struct gw_spool *s)
{
    if (!s)
        return;
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->lock);
    free(s->q);
    free(s->dir);
    free(s);
}

bool gw_spool_takes(const struct gw_spool *s, const struct gw_route *route)
{
    if (!s || !route || route->spool == GW_SPOOL_NEVER)
        return false;
    if (!s->cfg->spool_channels_set)
        return route->spool == GW_SPOOL_BY_DEFAULT;
    for (const struct gw_channel *const *c = gw_channels; *c; c++) {
        if (route < (*c)->routes || route >= (*c)->routes + (*c)->n_routes)
            continue;
        for (size_t i = 0; i < s->cfg->n_spool_channels; i++)
            if (!strcmp(s->cfg->spool_channels[i], (*c)->name))
                return true;
    }
    return false;
}

bool gw_spool_busy(struct gw_spool *s)
{
    pthread_mutex_lock(&s->lock);
    bool busy = spool_waiting(s) > 0;
    pthread_mutex_unlock(&s->lock);
    return busy;
}

void gw_spool_on_append(struct gw_spool *s, void (*wake)(void *), void *user)
{
    pthread_mutex_lock(&s->lock);
    s->wake = wake;
    s->wake_user = user;
    pthread_mutex_unlock(&s->lock);
}

/*
 * What the replayer needs besides the document: whose contact, its keys, its
 * operation, and the request it came with (its registration's log line names it).
 */
static char *meta_of(const struct gw_contact *c, const char *request_id, time_t now)
{
    json_t *o = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?}", "at", (json_int_t)now, "channel",
                          c->channel, "key", c->idempotency_key, "order_key", c->order_key,
                          "operation", c->registered_by ? c->registered_by->name : NULL, "request",
                          request_id[0] ? request_id : NULL);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* Under the lock: whether one more contact of size bytes is within the bounds. */
static bool within_bounds(struct gw_spool *s, uint64_t size, time_t now)
{
    const struct gw_config *cfg = s->cfg;
    if (s->bytes + size > cfg->spool_max_bytes) {
        s->over_bound = true;
        gw_log_begin(SPOOL_LOG_FULL, GW_LOG_ERROR,
                     "spool: full (%zu contacts, %" PRIu64 " bytes; spool.max_bytes %zu): "
                     "contacts that would spool are answered 503 until it drains",
                     spool_waiting(s), s->bytes, cfg->spool_max_bytes);
        return false;
    }
    if (spool_waiting(s) && now - s->q[s->head].at > cfg->spool_max_age_s) {
        gw_log_begin(SPOOL_LOG_FULL, GW_LOG_ERROR,
                     "spool: its oldest contact waits for %lld s (spool.max_age_seconds %d): "
                     "contacts that would spool are answered 503 until it drains",
                     (long long)(now - s->q[s->head].at), cfg->spool_max_age_s);
        return false;
    }
    return true;
}

/* Reserves the next number for a contact of size bytes; false when over a bound. */
static bool reserve(struct gw_spool *s, uint64_t size, time_t now, uint64_t *seq)
{
    pthread_mutex_lock(&s->lock);
    bool ok =
        within_bounds(s, size, now) && push(s, (struct spool_entry){s->next_seq, size, now, false});
    if (ok) {
        *seq = s->next_seq++;
        s->bytes += size;
    } else
        s->refused++;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* The write of seq ended: it joins the queue, or leaves it. */
static void settle(struct gw_spool *s, uint64_t seq, bool written)
{
    pthread_mutex_lock(&s->lock);
    struct spool_entry *e = spool_find(s, seq);
    if (e && written) {
        e->ready = true;
        s->ready++;
        s->spooled++;
        gw_log_begin(SPOOL_LOG_ACTIVE, GW_LOG_WARN,
                     "spool: spooling started: the database cannot be reached; webhooks are "
                     "kept in %s and registered when it answers (%zu contacts)",
                     s->dir, spool_waiting(s));
    } else if (e)
        spool_drop(s, e);
    void (*wake)(void *) = written ? s->wake : NULL;
    void *user = s->wake_user;
    if (!written)
        spool_note_empty(s);
    pthread_mutex_unlock(&s->lock);
    if (wake)
        wake(user);
}

enum gw_err gw_spool_append(struct gw_spool *s, const struct gw_config *cfg,
                            struct gw_intake_job *job)
{
    struct gw_contact *c = &job->contact;
    time_t now = time(NULL);
    /* Registered later, the contact must keep the time it came, not take the replay's. */
    char *built = NULL;
    if (!c->received_at || !job->document) {
        if (!c->received_at)
            c->received_at = now;
        built = gw_register_document(cfg, c);
    }
    char *meta = meta_of(c, job->request_id, now);
    const char *doc = built ? built : job->document;
    struct spool_record rec = {meta,   meta ? strlen(meta) : 0, doc, doc ? strlen(doc) : 0,
                               c->raw, c->raw ? c->raw_len : 0};
    char header[SPOOL_HEADER_MAX];
    size_t header_len = meta && doc ? spool_record_header(&rec, header) : 0;
    enum gw_err err = header_len ? GW_OK : GW_ERR_NOMEM;
    uint64_t seq = 0;
    uint64_t size = header_len + rec.meta_len + rec.doc_len + rec.raw_len;
    if (err == GW_OK && !reserve(s, size, now, &seq))
        err = GW_ERR_BUSY;
    if (err == GW_OK) {
        char name[40];
        const char *why;
        spool_name_of(seq, ".ev", name);
        err = spool_record_write(s->dirfd, name, header, header_len, &rec, &why);
        if (err != GW_OK)
            gw_log_begin(SPOOL_LOG_BROKEN, GW_LOG_ERROR,
                         "spool: cannot keep a contact in %s (%s: %s): contacts that would "
                         "spool are answered 503",
                         s->dir, why, strerror(errno));
        else
            gw_log_end(SPOOL_LOG_BROKEN, "spool: writing contacts again");
        settle(s, seq, err == GW_OK);
    }
    free(meta);
    free(built);
    return err;
}

void gw_spool_stats(struct gw_spool *s, struct gw_spool_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    out->events = s->ready;
    out->bytes = s->bytes;
    if (spool_waiting(s)) {
        double age = difftime(time(NULL), s->q[s->head].at);
        out->oldest_age_s = age > 0 ? age : 0;
    }
    out->full = s->over_bound || out->oldest_age_s > s->cfg->spool_max_age_s;
    out->spooled = s->spooled;
    out->replayed = s->replayed;
    out->refused = s->refused;
    out->discarded = s->discarded;
    pthread_mutex_unlock(&s->lock);
}
