/*
 * Poller thread. Polling sources (IMAP mailboxes) is slow I/O that must not
 * touch the event loop or the registration workers, so it gets a thread, a
 * database connection and a curl handle of its own. Registration here is
 * synchronous: a source item is acknowledged to its source only after
 * gw_poll_register() returned a committed result.
 */
#include "gw_poller.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_log.h"
#include "gw_register.h"
#include "gw_thread.h"

struct gw_poll_ctx {
    const struct gw_config *cfg;
    PGconn *conn;
    CURL *curl;
    struct gw_poller *poller;
};

struct gw_poller {
    const struct gw_config *cfg;
    struct gw_thread thread;
};

const struct gw_config *gw_poll_config(struct gw_poll_ctx *ctx)
{
    return ctx->cfg;
}

void *gw_poll_curl(struct gw_poll_ctx *ctx)
{
    return ctx->curl;
}

bool gw_poll_stopping(struct gw_poll_ctx *ctx)
{
    return gw_thread_stopping(&ctx->poller->thread);
}

static bool connected(struct gw_poll_ctx *ctx)
{
    if (!gw_db_is_broken(ctx->conn))
        return true;
    PQfinish(ctx->conn);
    ctx->conn = NULL;
    PGconn *c = NULL;
    if (gw_db_connect(ctx->cfg->database_url, "intake-poller", &c) != GW_OK)
        return false;
    if (gw_register_prepare(c) != GW_OK) {
        PQfinish(c);
        return false;
    }
    ctx->conn = c;
    return true;
}

enum gw_err gw_poll_register(struct gw_poll_ctx *ctx, struct gw_intake_job *job)
{
    if (!connected(ctx))
        return GW_ERR_DB_UNAVAILABLE;
    enum gw_err err = gw_register_batch(ctx->conn, ctx->cfg, &job, 1);
    if (err == GW_OK && job->result.err == GW_ERR_DB_UNAVAILABLE)
        err = GW_ERR_DB_UNAVAILABLE;
    return err;
}

enum gw_err gw_poll_run(struct gw_poll_ctx *ctx, const struct gw_operation *op, json_t *doc,
                        json_t **answer)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct gw_arena *arena = text ? gw_arena_create(4096) : NULL;
    struct gw_intake_job job = {
        .kind = GW_JOB_OPERATION, .operation = op, .arena = arena, .document = text};
    enum gw_err err = arena ? gw_poll_register(ctx, &job) : GW_ERR_NOMEM;
    if (err == GW_OK)
        err = job.result.err;
    json_t *got = err == GW_OK ? json_loads(job.result.document, 0, NULL) : NULL;
    if (err == GW_OK && !got)
        err = GW_ERR_DB;
    if (got)
        *answer = got;
    gw_arena_destroy(arena);
    free(text);
    return err;
}

static bool advisory(struct gw_poll_ctx *ctx, const char *fn, const char *name)
{
    if (!connected(ctx))
        return false;
    const char *params[] = {name};
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT %s(hashtextextended($1, 42))", fn);
    PGresult *res = PQexecParams(ctx->conn, sql, 1, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return ok;
}

bool gw_poll_try_lock(struct gw_poll_ctx *ctx, const char *name)
{
    return advisory(ctx, "pg_try_advisory_lock", name);
}

void gw_poll_unlock(struct gw_poll_ctx *ctx, const char *name)
{
    advisory(ctx, "pg_advisory_unlock", name);
}

static void *poller_main(void *arg)
{
    struct gw_poller *p = arg;
    struct gw_poll_ctx ctx = {p->cfg, NULL, curl_easy_init(), p};
    while (!gw_poll_stopping(&ctx)) {
        int interval = 3600;
        for (const struct gw_channel *const *c = gw_channels; *c; c++)
            if ((*c)->poll) {
                /* Each poll is a request of its own: its lines carry one id. */
                char request_id[GW_REQUEST_ID_SIZE];
                gw_log_set_request(gw_request_id_new(request_id));
                int next = (*c)->poll(&ctx);
                gw_log_set_request(NULL);
                if (next > 0 && next < interval)
                    interval = next;
            }
        gw_thread_wait(&p->thread, interval * 1000.0, false);
    }
    if (ctx.curl)
        curl_easy_cleanup(ctx.curl);
    PQfinish(ctx.conn);
    return NULL;
}

enum gw_err gw_poller_start(const struct gw_config *cfg, struct gw_poller **out)
{
    *out = NULL;
    int any = 0;
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        any |= (*c)->poll != NULL;
    if (!any)
        return GW_OK;
    struct gw_poller *p = calloc(1, sizeof(*p));
    if (!p)
        return GW_ERR_NOMEM;
    p->cfg = cfg;
    if (gw_thread_start(&p->thread, poller_main, p) != GW_OK) {
        free(p);
        return GW_ERR_NOMEM;
    }
    *out = p;
    return GW_OK;
}

void gw_poller_stop(struct gw_poller *p)
{
    if (!p)
        return;
    gw_thread_stop(&p->thread);
    free(p);
}
