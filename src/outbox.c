/*
 * Outbox dispatcher: the thread, with its own connection and curl handle,
 * and when it runs a pass (outbox_pass.c): on a kick after a registration
 * (at most every KICK_GAP_MS), else every outbox.poll_ms; the channels'
 * upkeep after passes. Claiming sets status 'sending' and pushes
 * next_attempt_at out by a lease, in one statement with FOR UPDATE SKIP
 * LOCKED: a second gateway skips rows the first holds, and rows a crashed
 * process held come back when the lease runs out. A delivery that may have
 * reached the receiver before a crash can be repeated, so every callback
 * carries an Idempotency-Key (the outbox row) for the receiver to drop.
 */
#include "gw_outbox.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_smtp_send.h"
#include "gw_thread.h"
#include "outbox_private.h"

#define CLAIM_BATCH 32
/*
 * Least time between two passes started by kicks. Every registration commit
 * kicks; at 1,000 chat messages a second a pass per commit (each a
 * transaction with its own WAL flush, plus the claim query) took a third of a
 * core from the registering backend on a 2-core machine and stretched the
 * messages' acknowledgements (bench/README.md, "Chat sessions"). Agents hear
 * of a contact at most this much later.
 */
#define KICK_GAP_MS 25
/* Rows a channel's upkeep handles in one go (gw_channel.tend), and how often it runs
 * at most: after every pass (a registration kicks one) its fixed cost would add up. */
#define TEND_BATCH  2000
#define TEND_GAP_MS 200

struct gw_outbox {
    const struct gw_config *cfg;
    struct gw_thread thread;
};

double outbox_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sleeps until KICK_GAP_MS after since (a stop ends it early); kicks wait for the next pass. */
static void keep_gap(struct gw_outbox *ob, double since)
{
    double left = since + KICK_GAP_MS - outbox_mono_ms();
    if (left > 0)
        gw_thread_wait(&ob->thread, left, false);
}

/* The channels' upkeep after a pass (gw_channel.tend); the most any of them handled. */
static int tend_channels(PGconn *conn, const struct gw_config *cfg)
{
    int most = 0;
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        if ((*c)->tend) {
            int n = (*c)->tend(conn, cfg, TEND_BATCH);
            if (n > most)
                most = n;
        }
    return most;
}

static void *dispatcher_main(void *arg)
{
    struct gw_outbox *ob = arg;
    PGconn *conn = NULL;
    CURL *curl = curl_easy_init();
    struct gw_outbox_unwritten unwritten = {NULL, NULL};
    double tended = 0;
    bool tend_more = false;
    gw_smtp_init();
    while (!gw_thread_stopping(&ob->thread)) {
        int handled = 0;
        double started = outbox_mono_ms();
        if (gw_db_is_broken(conn)) {
            PQfinish(conn);
            conn = NULL;
            if (gw_db_connect(ob->cfg->database_url, "intake-outbox", &conn) != GW_OK ||
                gw_outbox_prepare(conn) != GW_OK) {
                PQfinish(conn);
                conn = NULL;
            }
        }
        if (conn && curl &&
            gw_outbox_run_once(conn, curl, ob->cfg, CLAIM_BATCH, &handled, &unwritten) != GW_OK)
            handled = 0;
        /* Upkeep at most every TEND_GAP_MS, unless the last found more than a batch. */
        if (conn && (tend_more || started - tended >= TEND_GAP_MS)) {
            tended = started;
            tend_more = tend_channels(conn, ob->cfg) == TEND_BATCH;
        }
        if (tend_more)
            handled = CLAIM_BATCH; /* no wait */
        if (handled < CLAIM_BATCH) {
            gw_thread_wait(&ob->thread, ob->cfg->outbox_poll_ms, true);
            keep_gap(ob, started);
        }
    }
    if (curl)
        curl_easy_cleanup(curl);
    /* Outcomes still unwritten at a stop: their rows come back after the lease. */
    free(unwritten.outcomes);
    free(unwritten.claimed);
    PQfinish(conn);
    return NULL;
}

enum gw_err gw_outbox_start(const struct gw_config *cfg, struct gw_outbox **out)
{
    struct gw_outbox *ob = calloc(1, sizeof(*ob));
    if (!ob)
        return GW_ERR_NOMEM;
    ob->cfg = cfg;
    if (gw_thread_start(&ob->thread, dispatcher_main, ob) != GW_OK) {
        free(ob);
        return GW_ERR_NOMEM;
    }
    *out = ob;
    return GW_OK;
}

void gw_outbox_kick(void *arg)
{
    struct gw_outbox *ob = arg;
    gw_thread_kick(&ob->thread);
}

void gw_outbox_stop(struct gw_outbox *ob)
{
    if (!ob)
        return;
    gw_thread_stop(&ob->thread);
    free(ob);
}
