/*
 * One pass of the outbox dispatcher on its connection: write back what an
 * earlier pass could not, publish agent notifications, claim the due rows
 * (and a probe for each receiver away: db/functions/outbox.sql), deliver
 * them one by one (outbox_deliver.c) and write down what came of each. A
 * delivery that left is written down before the next one is sent, so a
 * crash repeats at most the one it cut; the rest of a pass's outcomes go
 * in one statement.
 */
#include "gw_outbox.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_db.h"
#include "gw_log.h"
#include "outbox_private.h"

/* Agent notifications need no I/O of ours: a pass publishes this many per row it claims. */
#define PUBLISH_PER_CLAIM 8

/* The statements of a pass that PostgreSQL would otherwise plan on every pass. */
#define CLAIM_STMT   "gw_outbox_claim"
#define RECORD_STMT  "gw_outbox_record"
#define PUBLISH_STMT "gw_outbox_publish"

/* The id of every row a pass decided on, as an array literal ("{1,2,3}"). */
static char *claimed_ids(const struct outcomes *o)
{
    const json_t *lists[] = {o->sent, o->skipped, o->retry};
    size_t n = 0;
    for (size_t l = 0; l < 3; l++)
        n += json_array_size(lists[l]);
    char *out = malloc(n * 21 + 3), *p = out;
    if (!out)
        return NULL;
    *p++ = '{';
    for (size_t l = 0; l < 3; l++) {
        size_t i;
        json_t *e;
        json_array_foreach(lists[l], i, e)
        {
            json_t *id = json_is_object(e) ? json_object_get(e, "id") : e;
            p += sprintf(p, "%s%" JSON_INTEGER_FORMAT, p - out > 1 ? "," : "",
                         json_integer_value(id));
        }
    }
    strcpy(p, "}");
    return out;
}

/* A deadlock or serialization failure: the statement can simply run again. */
static bool try_again(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && (!strcmp(state, "40P01") || !strcmp(state, "40001"));
}

/*
 * Runs the record statement; GW_ERR_DB_UNAVAILABLE when the connection
 * broke. *woken: rows of receivers found back, due now. The statement
 * rewrites only the claimed rows and is safe to repeat: it is, when
 * PostgreSQL chose it to break a deadlock (two dispatchers naming the same
 * receivers away and back at once), since a 'sent' it failed to write
 * would send that row again after its lease.
 */
static enum gw_err write_outcomes(PGconn *conn, const struct gw_config *cfg, const char *text,
                                  const char *ids, long *woken)
{
    char max[16];
    snprintf(max, sizeof(max), "%d", cfg->outbox_max_attempts);
    const char *params[] = {text, max, ids};
    PGresult *res = PQexecPrepared(conn, RECORD_STMT, 3, params, NULL, NULL, 0);
    for (int again = 0; again < 3 && try_again(res); again++) {
        PQclear(res);
        res = PQexecPrepared(conn, RECORD_STMT, 3, params, NULL, NULL, 0);
    }
    enum gw_err err = PQresultStatus(res) == PGRES_TUPLES_OK ? GW_OK : GW_ERR_DB;
    if (err == GW_OK && PQntuples(res) == 1 && PQnfields(res) > 5)
        *woken += atol(PQgetvalue(res, 0, 5));
    if (err != GW_OK && gw_db_is_broken(conn))
        err = GW_ERR_DB_UNAVAILABLE;
    else if (err != GW_OK)
        gw_log_event(GW_LOG_WARN, "outbox.record_failed",
                     GW_FIELDS(GW_STR("sqlstate", PQresultErrorField(res, PG_DIAG_SQLSTATE))),
                     "outbox: recording outcomes failed (sqlstate %s)",
                     PQresultErrorField(res, PG_DIAG_SQLSTATE));
    PQclear(res);
    return err;
}

/*
 * Writes back what the pass decided for each row it claimed. If the
 * connection broke, the decisions wait in *unwritten for the next one:
 * otherwise the rows would keep their lease (outbox.lease_seconds, 60) and
 * be delivered again after it, the ones already sent included.
 */
static enum gw_err record_outcomes(PGconn *conn, const struct gw_config *cfg,
                                   const struct outcomes *o, struct gw_outbox_unwritten *unwritten,
                                   long *woken)
{
    json_t *doc = json_pack("{s:O, s:O, s:O, s:O, s:O}", "sent", o->sent, "skipped", o->skipped,
                            "retry", o->retry, "records", o->records, "reached", o->reached);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    char *ids = text ? claimed_ids(o) : NULL;
    if (!text || !ids) {
        free(text);
        return GW_ERR_NOMEM;
    }
    enum gw_err err = write_outcomes(conn, cfg, text, ids, woken);
    if (err == GW_ERR_DB_UNAVAILABLE && !unwritten->outcomes) {
        unwritten->outcomes = text;
        unwritten->claimed = ids;
        return err;
    }
    free(text);
    free(ids);
    return err;
}

/* What an earlier pass could not write back, written first on a new connection. */
static enum gw_err write_unwritten(PGconn *conn, const struct gw_config *cfg,
                                   struct gw_outbox_unwritten *unwritten)
{
    if (!unwritten->outcomes)
        return GW_OK;
    long woken = 0;
    enum gw_err err = write_outcomes(conn, cfg, unwritten->outcomes, unwritten->claimed, &woken);
    if (err == GW_ERR_DB_UNAVAILABLE)
        return err;
    if (err == GW_OK)
        gw_info("outbox: wrote back the outcomes of a pass cut off by the database");
    free(unwritten->outcomes);
    free(unwritten->claimed);
    unwritten->outcomes = unwritten->claimed = NULL;
    return err;
}

/*
 * Agent notifications need no I/O of ours: one statement NOTIFYs them (sent
 * when it commits), puts them on the assignees' streams, queues a webhook row
 * for queues that have one, and deletes the rows (intake_publish_agent_events,
 * db/functions/outbox.sql). The ticket's timeline keeps the event; one DELETE costs
 * far less than marking a row twice.
 */
static enum gw_err publish_agent_events(PGconn *conn, const struct gw_config *cfg, int limit,
                                        int *published)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    json_t *hooked = json_array();
    for (size_t i = 0; i < cfg->n_queue_hooks; i++)
        json_array_append_new(hooked, json_string(cfg->queue_hooks[i].queue));
    char *queues = json_dumps(hooked, JSON_COMPACT);
    json_decref(hooked);
    const char *params[] = {lim, GW_AGENT_EVENTS_CHANNEL, queues ? queues : "[]"};
    PGresult *res = PQexecPrepared(conn, PUBLISH_STMT, 3, params, NULL, NULL, 0);
    free(queues);
    enum gw_err err = GW_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        err = gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_ERR_DB;
    else
        *published = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return err;
}

/*
 * The dispatcher's own commits need not wait for the disk. What they record
 * (a claim, a retry, a published notification deleted) being lost to a crash
 * only means a row is handled again, and that can happen already when a
 * lease runs out. The one exception, a delivery that left, waits for the
 * disk inside intake_outbox_record (db/functions/outbox.sql): lost, it was
 * sent twice. Waiting did cost: every pass made up to three WAL
 * flushes, and a registration committing meanwhile queued behind them.
 *
 * No sequential scans: every statement of a pass reaches its rows by key or
 * by a queue index, but PostgreSQL makes a prepared statement's lasting plan
 * from the table as it is then. Prepared on a new database's empty outbox,
 * the record statement kept scanning the whole table twice per pass as it
 * grew (10-31 ms a pass at 7,500 rows in the phone bench, auto_explain) until
 * statistics came in; with scans by index the plan fits any size.
 */
enum gw_err gw_outbox_prepare(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SET synchronous_commit = off; SET enable_seqscan = off");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    const struct {
        const char *name, *sql;
        int n_params;
    } stmts[] = {
        {CLAIM_STMT, "SELECT * FROM intake_outbox_claim($1::int, $2::int)", 2},
        {RECORD_STMT, "SELECT * FROM intake_outbox_record($1::jsonb, $2::int, $3::bigint[])", 3},
        {PUBLISH_STMT, "SELECT intake_publish_agent_events($1::int, $2, $3::jsonb)", 3}};
    for (size_t i = 0; ok && i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        res = PQprepare(conn, stmts[i].name, stmts[i].sql, stmts[i].n_params, NULL);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            gw_error("outbox: cannot prepare %s: %s", stmts[i].name, PQresultErrorMessage(res));
        PQclear(res);
    }
    if (ok)
        return GW_OK;
    return gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_ERR_DB;
}

static bool has_outcomes(const struct outcomes *o)
{
    return json_array_size(o->sent) || json_array_size(o->skipped) || json_array_size(o->retry);
}

/*
 * A row delivered to the outside world is written down before the next one
 * is sent, not with the rest of its pass: a gateway killed in the middle of
 * a pass of 32 sent every delivery of the pass again after the lease (the
 * fault suite counted 11 repeated acknowledgement mails per kill -9). Now a
 * crash can repeat only the one delivery it cut between its send and this
 * write. The write costs a round trip and a WAL flush (it waits for the disk:
 * intake_outbox_record), less than the mail or HTTP request it follows.
 * Skipped and retried rows ride along with it or with the pass's last write.
 */
static enum gw_err record_sent(PGconn *conn, const struct gw_config *cfg, struct outcomes *o,
                               struct gw_outbox_unwritten *unwritten, long *woken)
{
    if (!json_array_size(o->sent))
        return GW_OK;
    enum gw_err err = record_outcomes(conn, cfg, o, unwritten, woken);
    json_array_clear(o->sent);
    json_array_clear(o->skipped);
    json_array_clear(o->retry);
    json_array_clear(o->records);
    json_array_clear(o->reached);
    return err;
}

enum gw_err gw_outbox_run_once(PGconn *conn, void *curl, const struct gw_config *cfg, int limit,
                               int *handled, struct gw_outbox_unwritten *unwritten)
{
    enum gw_err uerr = write_unwritten(conn, cfg, unwritten);
    if (uerr == GW_ERR_DB_UNAVAILABLE)
        return uerr;
    int published = 0;
    int publish_limit = limit * PUBLISH_PER_CLAIM;
    enum gw_err perr = publish_agent_events(conn, cfg, publish_limit, &published);
    if (perr != GW_OK)
        return perr;
    char lease[16], lim[16];
    snprintf(lease, sizeof(lease), "%d", cfg->outbox_lease_s);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[] = {lease, lim};
    PGresult *res = PQexecPrepared(conn, CLAIM_STMT, 2, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return gw_db_is_broken(conn) ? GW_ERR_DB_UNAVAILABLE : GW_ERR_DB;
    }
    int n = PQntuples(res);
    struct outcomes o = {json_array(), json_array(), json_array(), json_array(), json_array()};
    enum gw_err err = GW_OK;
    long woken = 0;
    for (int i = 0; i < n && err == GW_OK; i++) {
        struct claimed row = {.id = PQgetvalue(res, i, 0),
                              .kind = PQgetvalue(res, i, 1),
                              .channel = PQgetvalue(res, i, 2),
                              .payload = PQgetvalue(res, i, 3),
                              .attempts = atoi(PQgetvalue(res, i, 4)),
                              .resume_at =
                                  PQgetisnull(res, i, 5) ? 0 : atof(PQgetvalue(res, i, 5))};
        outbox_deliver(conn, curl, cfg, &row, &o);
        err = record_sent(conn, cfg, &o, unwritten, &woken);
    }
    PQclear(res);
    /* Not written at all: the rows keep their lease and come back, delivered at least once. */
    if (err == GW_OK && has_outcomes(&o))
        err = record_outcomes(conn, cfg, &o, unwritten, &woken);
    json_decref(o.sent);
    json_decref(o.skipped);
    json_decref(o.retry);
    json_decref(o.records);
    json_decref(o.reached);
    if (woken > 0)
        gw_log_event(GW_LOG_INFO, "outbox.receiver_back", GW_FIELDS(GW_INT("woken", woken)),
                     "outbox: a receiver that was away took a delivery: %ld waiting rows due now",
                     woken);
    /* A full claim or a full publish, or rows of a receiver back due now: more is waiting. */
    if (err == GW_OK)
        *handled = n == limit || published == publish_limit || woken > 0 ? limit : n;
    return err;
}
