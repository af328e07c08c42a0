/*
 * What spool.c (the directory, its lock, appending, the figures) and
 * spool_take.c (what the replayer takes and removes) share: the spool
 * itself and its queue in memory. Everything here runs under s->lock
 * unless it says otherwise.
 */
#ifndef GW_SPOOL_PRIVATE_H
#define GW_SPOOL_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "gw_spool.h"

/* Conditions logged when they begin and end (gw_log_begin), not per contact. */
#define SPOOL_LOG_ACTIVE "spool.active"
#define SPOOL_LOG_FULL   "spool.full"
#define SPOOL_LOG_BROKEN "spool.write_failed"

struct spool_entry {
    uint64_t seq;
    uint64_t bytes;
    time_t at;  /* when it was spooled */
    bool ready; /* written in full */
};

struct gw_spool {
    const struct gw_config *cfg;
    char *dir;
    int dirfd, lockfd;
    pthread_mutex_t lock;
    struct spool_entry *q; /* q[head .. n) in arrival order */
    size_t head, n, cap;
    size_t ready; /* entries written in full */
    uint64_t next_seq, bytes;
    uint64_t spooled, replayed, refused, discarded;
    bool over_bound; /* a contact was refused, and none has left since */
    void (*wake)(void *);
    void *wake_user;
};

/* "<seq, 20 digits><suffix>": a contact's file name (any thread). */
void spool_name_of(uint64_t seq, const char *suffix, char out[40]);
/* The queue's entry for seq, or NULL; the oldest are looked at first. */
struct spool_entry *spool_find(struct gw_spool *s, uint64_t seq);
/* Takes an entry out of the queue (its file is the caller's to remove or rename). */
void spool_drop(struct gw_spool *s, struct spool_entry *e);
/* Entries in the queue, written in full or not. */
size_t spool_waiting(const struct gw_spool *s);
/* Logs the end of spooling once when the queue is empty. */
void spool_note_empty(struct gw_spool *s);

#endif
