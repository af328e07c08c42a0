/*
 * The spool's replayer: a thread of its own (not a step of the poller, whose
 * hooks may hold it for an IMAP session) with a connection of its own
 * ("intake-spool"). While the spool holds contacts it tries the database
 * every second, and once it answers registers them oldest first, a batch
 * of up to REPLAY_BATCH at a time: one pipeline, one transaction, one WAL
 * flush, in the order they came (gw_register_in_order), then each file is
 * removed. One transaction per contact cost a round trip and a flush each:
 * ~75 contacts/s, slower than a busy phone system sends while the spool
 * drains. A contact whose file outlives its commit (a crash between the
 * two) is registered again as a duplicate of its idempotency key, which
 * stores nothing, and then removed: a replay never registers anything
 * twice. A batch the database refuses as a whole is run again one contact
 * per transaction (src/register.c), so one bad contact is set aside alone.
 */
#include <stdlib.h>

#include "gw_config.h"
#include "gw_db.h"
#include "gw_log.h"
#include "gw_register.h"
#include "gw_spool.h"
#include "gw_thread.h"

#define RETRY_MS 1000.0
#define IDLE_MS  60000.0
/* Files read and registered together per pass. */
#define REPLAY_BATCH 32

struct gw_spool_replayer {
    const struct gw_config *cfg;
    struct gw_spool *spool;
    void (*committed)(void *);
    void *user;
    struct gw_thread thread;
};

static bool connected(const struct gw_config *cfg, PGconn **conn)
{
    if (!gw_db_is_broken(*conn))
        return true;
    PQfinish(*conn);
    *conn = NULL;
    PGconn *c = NULL;
    if (gw_db_connect(cfg->database_url, "intake-spool", &c) != GW_OK)
        return false;
    if (gw_register_prepare(c) != GW_OK) {
        PQfinish(c);
        return false;
    }
    *conn = c;
    return true;
}

/*
 * Registers the oldest contacts in one transaction, in the order they came
 * (a worker's batch takes its locks in name order instead, src/register.c),
 * and removes the files of those stored; returns false when the replayer
 * should wait before it tries again (the database away, or not taking a
 * contact yet). Results are read in order and the first contact the
 * database could not take yet stops the pass: it and those after it stay
 * for the next one, except any that the one-by-one retry of a refused batch
 * stored meanwhile (a contact set aside, or a ticket number taken: see
 * number_taken in src/register.c), whose files go as theirs would.
 */
static bool replay_some(struct gw_spool_replayer *r, PGconn **conn)
{
    struct gw_spooled items[REPLAY_BATCH];
    struct gw_intake_job *jobs[REPLAY_BATCH];
    struct gw_arena *arena = gw_arena_create(64 * 1024);
    size_t n = arena ? gw_spool_take(r->spool, arena, items, REPLAY_BATCH) : 0;
    for (size_t i = 0; i < n; i++)
        jobs[i] = items[i].job;
    if (n && gw_register_in_order(*conn, r->cfg, jobs, n) == GW_ERR_DB_UNAVAILABLE) {
        PQfinish(*conn);
        *conn = NULL;
    }
    bool go_on = n > 0, stored = false;
    for (size_t i = 0; i < n; i++) {
        const struct gw_intake_result *res = &jobs[i]->result;
        if (res->err == GW_OK) {
            gw_spool_done(r->spool, items[i].seq);
            stored |= !res->duplicate;
        } else if (res->err == GW_ERR_INVALID || res->err == GW_ERR_DB)
            gw_spool_set_aside(r->spool, items[i].seq,
                               res->detail[0] ? res->detail : gw_strerror(res->err));
        else
            go_on = false; /* the database went away again, or cannot take it yet: later */
    }
    if (stored && r->committed)
        r->committed(r->user);
    gw_arena_destroy(arena);
    return go_on;
}

static void *replayer_main(void *arg)
{
    struct gw_spool_replayer *r = arg;
    PGconn *conn = NULL;
    while (!gw_thread_stopping(&r->thread)) {
        struct gw_spool_stats st;
        gw_spool_stats(r->spool, &st);
        if (!st.events) {
            /* Drained: the connection is only held while there is something to replay. */
            PQfinish(conn);
            conn = NULL;
            gw_thread_wait(&r->thread, IDLE_MS, true);
        } else if (!connected(r->cfg, &conn) || !replay_some(r, &conn))
            gw_thread_wait(&r->thread, RETRY_MS, false);
    }
    PQfinish(conn);
    return NULL;
}

static void kick(void *user)
{
    gw_thread_kick(&((struct gw_spool_replayer *)user)->thread);
}

enum gw_err gw_spool_replayer_start(const struct gw_config *cfg, struct gw_spool *spool,
                                    void (*committed)(void *), void *user,
                                    struct gw_spool_replayer **out)
{
    *out = NULL;
    if (!spool)
        return GW_OK;
    struct gw_spool_replayer *r = calloc(1, sizeof(*r));
    if (!r)
        return GW_ERR_NOMEM;
    *r = (struct gw_spool_replayer){cfg, spool, committed, user, {0}};
    if (gw_thread_start(&r->thread, replayer_main, r) != GW_OK) {
        free(r);
        return GW_ERR_NOMEM;
    }
    gw_spool_on_append(spool, kick, r);
    *out = r;
    return GW_OK;
}

void gw_spool_replayer_stop(struct gw_spool_replayer *r)
{
    if (!r)
        return;
    gw_spool_on_append(r->spool, NULL, NULL);
    gw_thread_stop(&r->thread);
    free(r);
}
