/*
 * The replayer's side of the spool: the oldest contacts read back from
 * their files and rebuilt as registration jobs, and their files removed
 * once registered, or set aside when the database refuses them. A file that
 * turns out torn here (written in full once, then damaged) is removed with
 * a log line like those found at start-up.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_log.h"
#include "spool_private.h"
#include "spool_record.h"

/* The operation a spooled contact names, among every adapter's; NULL when none does. */
static const struct gw_operation *operation_named(const char *name)
{
    for (const struct gw_channel *const *c = gw_channels; name && *c; c++)
        for (size_t i = 0; i < (*c)->n_operations; i++)
            if (!strcmp((*c)->operations[i].name, name))
                return &(*c)->operations[i];
    return NULL;
}

static const char *meta_str(struct gw_arena *arena, json_t *meta, const char *key)
{
    const char *v = json_string_value(json_object_get(meta, key));
    return v ? gw_arena_strdup(arena, v) : NULL;
}

/* A registration job from a record, in arena; NULL with *why when it cannot be one. */
static struct gw_intake_job *job_of(const struct spool_record *rec, struct gw_arena *arena,
                                    const char **why)
{
    json_t *meta = json_loadb(rec->meta, rec->meta_len, 0, NULL);
    struct gw_intake_job *job = gw_arena_zalloc(arena, sizeof(*job));
    const char *op = json_string_value(json_object_get(meta, "operation"));
    *why = !meta ? "its description is not JSON" : NULL;
    if (job && meta) {
        struct gw_contact *c = &job->contact;
        job->kind = GW_JOB_REGISTER;
        job->arena = arena;
        job->document = gw_arena_strndup(arena, rec->doc, rec->doc_len);
        c->channel = meta_str(arena, meta, "channel");
        c->idempotency_key = meta_str(arena, meta, "key");
        c->order_key = meta_str(arena, meta, "order_key");
        c->registered_by = operation_named(op);
        /* A spool written before ids were kept gets one of its own. */
        gw_request_id_take(json_string_value(json_object_get(meta, "request")), job->request_id);
        if (rec->raw_len) {
            unsigned char *raw = gw_arena_alloc(arena, rec->raw_len);
            if (raw)
                memcpy(raw, rec->raw, rec->raw_len);
            c->raw = raw;
            c->raw_len = rec->raw_len;
        }
        if (op && !c->registered_by)
            *why = "it names an operation this build does not have";
        else if (!job->document || !c->idempotency_key || (rec->raw_len && !c->raw))
            *why = "it has no idempotency key";
    }
    json_decref(meta);
    return *why ? NULL : job;
}

size_t gw_spool_take(struct gw_spool *s, struct gw_arena *arena, struct gw_spooled *out, size_t max)
{
    uint64_t *seqs = calloc(max ? max : 1, sizeof(*seqs));
    size_t n = 0, got = 0;
    pthread_mutex_lock(&s->lock);
    /* Up to the first contact still being written: none passes one that came before it. */
    for (size_t i = s->head; seqs && i < s->n && n < max && s->q[i].ready; i++)
        seqs[n++] = s->q[i].seq;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        char name[40], *buf = NULL, why[128];
        struct spool_record rec;
        spool_name_of(seqs[i], ".ev", name);
        enum spool_read r =
            spool_record_read(s->dirfd, name, SPOOL_FILE_MAX, &buf, &rec, why, sizeof(why));
        if (r == SPOOL_READ_IO) {
            gw_log_begin(SPOOL_LOG_BROKEN, GW_LOG_ERROR, "spool: cannot read %s/%s: %s", s->dir,
                         name, why);
            break; /* left where it is, in its place in the order */
        }
        if (r == SPOOL_READ_TORN) {
            gw_warn("spool: %s/%s is torn (%s); removed", s->dir, name, why);
            unlinkat(s->dirfd, name, 0);
            pthread_mutex_lock(&s->lock);
            struct spool_entry *e = spool_find(s, seqs[i]);
            if (e)
                spool_drop(s, e);
            s->discarded++;
            spool_note_empty(s);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        const char *unusable;
        struct gw_intake_job *job = job_of(&rec, arena, &unusable);
        free(buf);
        if (!job) {
            gw_spool_set_aside(s, seqs[i], unusable);
            continue;
        }
        out[got++] = (struct gw_spooled){seqs[i], job};
    }
    free(seqs);
    return got;
}

void gw_spool_done(struct gw_spool *s, uint64_t seq)
{
    char name[40];
    spool_name_of(seq, ".ev", name);
    pthread_mutex_lock(&s->lock);
    struct spool_entry *e = spool_find(s, seq);
    if (e && (unlinkat(s->dirfd, name, 0) == 0 || errno == ENOENT)) {
        spool_drop(s, e);
        s->replayed++;
        spool_note_empty(s);
    } else if (e)
        gw_log_begin(SPOOL_LOG_BROKEN, GW_LOG_ERROR, "spool: cannot remove %s/%s: %s", s->dir, name,
                     strerror(errno));
    pthread_mutex_unlock(&s->lock);
}

void gw_spool_set_aside(struct gw_spool *s, uint64_t seq, const char *why)
{
    char name[40], aside[40];
    spool_name_of(seq, ".ev", name);
    spool_name_of(seq, ".refused", aside);
    pthread_mutex_lock(&s->lock);
    struct spool_entry *e = spool_find(s, seq);
    if (e && renameat(s->dirfd, name, s->dirfd, aside) == 0) {
        gw_error("spool: the contact in %s/%s cannot be registered (%s); kept aside as %s for "
                 "an operator (docs/operations.md, \"Spool\")",
                 s->dir, name, why, aside);
        spool_drop(s, e);
        s->discarded++;
        spool_note_empty(s);
    } else if (e)
        gw_log_begin(SPOOL_LOG_BROKEN, GW_LOG_ERROR, "spool: cannot rename %s/%s: %s", s->dir, name,
                     strerror(errno));
    pthread_mutex_unlock(&s->lock);
}
