/*
 * Outbox dispatcher. Claiming sets status 'sending' and pushes
 * next_attempt_at out by a lease, in one statement with FOR UPDATE SKIP
 * LOCKED: a second gateway skips rows the first holds, and rows a crashed
 * process held come back when the lease runs out. A delivery that may have
 * reached the receiver before a crash can be repeated, so every callback
 * carries an Idempotency-Key (the outbox row) for the receiver to drop.
 */
#include "gw_outbox.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_http_send.h"
#include "gw_log.h"
#include "gw_sign.h"
#include "gw_smtp_send.h"
#include "gw_thread.h"
#include "outbox_private.h"

#define CLAIM_BATCH 32
/* Agent notifications need no I/O of ours: a pass publishes this many per row it claims. */
#define PUBLISH_PER_CLAIM 8
#define MAX_BACKOFF_S     3600
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

/* The statements of a pass that PostgreSQL would otherwise plan on every pass. */
#define CLAIM_STMT   "gw_outbox_claim"
#define RECORD_STMT  "gw_outbox_record"
#define PUBLISH_STMT "gw_outbox_publish"

struct claimed {
    const char *id, *kind, *channel, *payload;
    int attempts;
    /* A probe of its receiver (not an attempt): when the row was due before it, epoch s; else 0. */
    double resume_at;
};

/*
 * What a pass decided for each claimed row, written back in one statement:
 * per-row commits made the dispatcher fall behind registration under load.
 */
static void add_id(json_t *list, const char *id)
{
    json_array_append_new(list, json_integer((json_int_t)strtoll(id, NULL, 10)));
}

struct outcomes {
    json_t *sent;    /* ids delivered */
    json_t *skipped; /* [{id, why}]: nothing to deliver, or suppressed */
    json_t *retry;   /* [{id, delay, why}] */
    json_t *records; /* [{id, ref, subject, text}]: sent mail kept on its ticket */
    json_t *reached; /* [receiver]: receivers that took or answered a delivery */
};

static json_int_t row_id(const struct claimed *row)
{
    return (json_int_t)strtoll(row->id, NULL, 10);
}

/*
 * A failed delivery's line: one to be retried (warn), or the last try
 * (error). The server's words name the recipient: the log keeps its codes
 * (gw_log_server_reason); the row keeps the whole answer.
 */
static void log_failure(const struct claimed *row, const char *why, bool for_good)
{
    char reason[256], what[64];
    gw_log_server_reason(why, reason, sizeof(reason));
    if (for_good)
        snprintf(what, sizeof(what), "failed for good after %d attempts", row->attempts);
    else if (row->resume_at > 0)
        snprintf(what, sizeof(what), "probe of its receiver after attempt %d failed",
                 row->attempts);
    else
        snprintf(what, sizeof(what), "attempt %d failed", row->attempts);
    gw_log_event(for_good ? GW_LOG_ERROR : GW_LOG_WARN,
                 for_good ? "outbox.given_up" : "outbox.failed",
                 GW_FIELDS(GW_STR("row", row->id), GW_STR("kind", row->kind),
                           GW_STR("channel", row->channel), GW_INT("attempt", row->attempts),
                           GW_STR("reason", reason)),
                 "outbox: row %s (%s) %s: %s", row->id, row->kind, what, reason);
}

/*
 * The row's next try: after its back-off, doubling per attempt; a probe's
 * row back where it was due before the probe (the probe was no attempt).
 */
static json_t *retry_entry(const struct gw_config *cfg, const struct claimed *row, const char *why)
{
    if (row->resume_at > 0)
        return json_pack("{s:I, s:f, s:s}", "id", row_id(row), "at", row->resume_at, "why", why);
    long delay = cfg->outbox_backoff_s;
    for (int i = 1; i < row->attempts && delay < MAX_BACKOFF_S; i++)
        delay *= 2;
    if (delay > MAX_BACKOFF_S)
        delay = MAX_BACKOFF_S;
    return json_pack("{s:I, s:I, s:s}", "id", row_id(row), "delay", (json_int_t)delay, "why", why);
}

static void add_retry(struct outcomes *o, const struct gw_config *cfg, const struct claimed *row,
                      const char *why)
{
    json_array_append_new(o->retry, retry_entry(cfg, row, why));
    if (row->attempts >= cfg->outbox_max_attempts)
        log_failure(row, why, true);
}

/*
 * A retry because the receiver could not be reached: the row waits under
 * the receiver's name, and the receiver is probed after probe_after
 * seconds (outbox_probe_after); the first delivery that reaches it makes
 * the row due at once (intake_outbox_record).
 */
static void add_away(struct outcomes *o, const struct gw_config *cfg, const struct claimed *row,
                     const char *why, const char *receiver, double took_s)
{
    json_t *entry = retry_entry(cfg, row, why);
    json_object_set_new(entry, "receiver", json_string(receiver));
    json_object_set_new(entry, "probe_after", json_real(outbox_probe_after(cfg, took_s)));
    json_array_append_new(o->retry, entry);
    if (row->attempts >= cfg->outbox_max_attempts)
        log_failure(row, why, true);
}

static void add_reached(struct outcomes *o, const char *receiver)
{
    for (size_t i = 0; i < json_array_size(o->reached); i++)
        if (!strcmp(json_string_value(json_array_get(o->reached, i)), receiver))
            return;
    json_array_append_new(o->reached, json_string(receiver));
}

static void add_skipped(struct outcomes *o, const struct claimed *row, const char *why)
{
    json_array_append_new(o->skipped, json_pack("{s:I, s:s?}", "id", row_id(row), "why", why));
}

/* Acknowledgements already sent to this reply handle in the last hour. */
static long sent_last_hour(PGconn *conn, const json_t *payload)
{
    const char *handle = json_string_value(json_object_get(payload, "reply_handle"));
    if (!handle)
        return 0;
    const char *params[] = {handle};
    PGresult *res =
        PQexecParams(conn, "SELECT intake_acks_sent_last_hour($1)", 1, NULL, params, NULL, NULL, 0);
    long n = PQresultStatus(res) == PGRES_TUPLES_OK ? atol(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return n;
}

static enum gw_err send_delivery(CURL *curl, const struct gw_config *cfg, const struct claimed *row,
                                 const struct gw_delivery *d, char *why, size_t why_len)
{
    if (d->kind == GW_DELIVER_SMTP)
        return gw_smtp_send(cfg, d->mail_from, d->rcpt_to, d->message, why, why_len);
    char key[48];
    snprintf(key, sizeof(key), "outbox-%s", row->id);
    const struct gw_http_post post = {.url = d->url,
                                      .content_type = d->content_type,
                                      .body = d->body,
                                      .len = d->body_len,
                                      .idempotency_key = key,
                                      .basic_auth = d->basic_auth,
                                      .signature = d->signature};
    return gw_http_post(curl, &post, why, why_len);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * Sends; sent mail is kept on its ticket so that answers to it thread. A
 * receiver that took the delivery, or answered and refused it, is there;
 * one that did not answer is away (add_away).
 */
static void send_and_record(CURL *curl, const struct gw_config *cfg, const struct claimed *row,
                            const struct gw_delivery *d, struct outcomes *o)
{
    char why[256] = "", receiver[300];
    bool named = outbox_receiver_name(cfg, d, receiver, sizeof(receiver));
    double started = mono_ms();
    enum gw_err err = send_delivery(curl, cfg, row, d, why, sizeof(why));
    if (named && (err == GW_OK || err == GW_ERR_DELIVERY))
        add_reached(o, receiver);
    if (err != GW_OK) {
        log_failure(row, why, false);
        if (named && err == GW_ERR_UNREACHABLE)
            add_away(o, cfg, row, why, receiver, (mono_ms() - started) / 1e3);
        else
            add_retry(o, cfg, row, why);
        return;
    }
    gw_event(GW_LOG_INFO, "outbox.sent", GW_STR("row", row->id), GW_STR("kind", row->kind),
             GW_STR("channel", row->channel), GW_INT("attempt", row->attempts));
    add_id(o->sent, row->id);
    if (d->record_ref)
        json_array_append_new(o->records, json_pack("{s:I, s:s, s:s?, s:s?}", "id", row_id(row),
                                                    "ref", d->record_ref, "subject",
                                                    d->record_subject, "text", d->record_text));
}

static void deliver_ack(PGconn *conn, CURL *curl, const struct gw_config *cfg,
                        const struct claimed *row, struct outcomes *o)
{
    const struct gw_channel *ch = gw_channel_find(row->channel);
    if (!ch || !ch->render_ack) {
        add_retry(o, cfg, row, "no channel can send this acknowledgement");
        return;
    }
    json_t *payload = json_loads(row->payload, 0, NULL);
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_delivery d;
    if (!payload || !arena || ch->render_ack(payload, cfg, arena, &d) != GW_OK) {
        add_retry(o, cfg, row, "could not render the acknowledgement");
    } else if (d.kind == GW_DELIVER_NONE) {
        add_skipped(o, row, d.why_none);
    } else if (d.kind == GW_DELIVER_SMTP && !gw_smtp_configured(cfg)) {
        add_skipped(o, row, "no SMTP server configured");
    } else if (d.per_recipient_per_hour > 0 &&
               sent_last_hour(conn, payload) >= d.per_recipient_per_hour) {
        /* A sender writing in a loop gets a few answers an hour, not one per message. */
        add_skipped(o, row, "acknowledgements to this address are rate limited");
    } else {
        send_and_record(curl, cfg, row, &d, o);
    }
    json_decref(payload);
    gw_arena_destroy(arena);
}

/*
 * The channel that carries messages to the customer's address of this kind,
 * if they have one and a channel carries it; sets the payload's "to".
 */
static const struct gw_channel *carrier(json_t *payload, const char *kind)
{
    const char *to = json_string_value(json_object_get(payload, kind));
    for (const struct gw_channel *const *c = gw_channels; to && *c; c++)
        for (const char *const *k = (*c)->address_kinds; k && *k && (*c)->render_reply; k++)
            if (!strcmp(*k, kind)) {
                json_object_set_new(payload, "to", json_string(to));
                return *c;
            }
    return NULL;
}

/*
 * A message to a customer who is not in a live session (an agent's reply, a
 * notice), by the channel that carries their kind of address: the kind the
 * ticket came in by first (payload "prefer"), then every kind a channel
 * declares, in the order of the channel table.
 */
static const struct gw_channel *pick_carrier(json_t *payload)
{
    const char *prefer = json_string_value(json_object_get(payload, "prefer"));
    const struct gw_channel *ch = prefer ? carrier(payload, prefer) : NULL;
    for (const struct gw_channel *const *c = gw_channels; !ch && *c; c++)
        for (const char *const *k = (*c)->address_kinds; !ch && k && *k; k++)
            ch = carrier(payload, *k);
    return ch;
}

static void deliver_to_address(CURL *curl, const struct gw_config *cfg, const struct claimed *row,
                               json_t *payload, struct outcomes *o)
{
    struct gw_arena *arena = gw_arena_create(4096);
    const struct gw_channel *ch = pick_carrier(payload);
    struct gw_delivery d;
    if (!arena) {
        add_retry(o, cfg, row, "out of memory");
    } else if (!ch) {
        add_skipped(o, row, "no address the gateway can send to");
    } else if (ch->render_reply(payload, cfg, arena, &d) != GW_OK) {
        add_retry(o, cfg, row, "could not render the message");
    } else if (d.kind == GW_DELIVER_NONE) {
        add_skipped(o, row, d.why_none);
    } else if (d.kind == GW_DELIVER_SMTP && !gw_smtp_configured(cfg)) {
        add_skipped(o, row, "no SMTP server configured");
    } else {
        send_and_record(curl, cfg, row, &d, o);
    }
    gw_arena_destroy(arena);
}

static void deliver_reply(CURL *curl, const struct gw_config *cfg, const struct claimed *row,
                          struct outcomes *o)
{
    json_t *payload = json_loads(row->payload, 0, NULL);
    if (!payload)
        add_retry(o, cfg, row, "could not read the reply");
    else
        deliver_to_address(curl, cfg, row, payload, o);
    json_decref(payload);
}

/*
 * An agent event for a queue's own tool: the event as JSON, signed like the
 * events the gateway takes in (X-Intake-Signature, gw_sign.h), so the
 * receiver can check it came from us and is fresh.
 */
static void deliver_queue_webhook(CURL *curl, const struct gw_config *cfg,
                                  const struct claimed *row, struct outcomes *o)
{
    json_t *payload = json_loads(row->payload, 0, NULL);
    const struct gw_queue_hook *hook =
        gw_config_queue_hook(cfg, json_string_value(json_object_get(payload, "queue")));
    json_decref(payload);
    if (!hook) {
        add_skipped(o, row, "the queue has no webhook any more");
        return;
    }
    long t = (long)time(NULL);
    char v1[65], signature[96];
    if (!gw_intake_signature_v1(hook->secret, t, row->payload, strlen(row->payload), v1)) {
        add_retry(o, cfg, row, "could not sign the webhook");
        return;
    }
    snprintf(signature, sizeof(signature), "t=%ld,v1=%s", t, v1);
    struct gw_delivery d = {.kind = GW_DELIVER_HTTP_POST,
                            .url = hook->url,
                            .content_type = "application/json",
                            .body = row->payload,
                            .body_len = strlen(row->payload),
                            .signature = signature};
    send_and_record(curl, cfg, row, &d, o);
}

/*
 * A message composed whole by whoever queued it (an adapter's mail with
 * attachments, such as a service report): payload {from, to, message},
 * sent by SMTP as it is.
 */
static void deliver_mail(CURL *curl, const struct gw_config *cfg, const struct claimed *row,
                         struct outcomes *o)
{
    json_t *payload = json_loads(row->payload, 0, NULL);
    struct gw_delivery d = {.kind = GW_DELIVER_SMTP,
                            .mail_from = json_string_value(json_object_get(payload, "from")),
                            .rcpt_to = json_string_value(json_object_get(payload, "to")),
                            .message = json_string_value(json_object_get(payload, "message"))};
    if (!d.mail_from || !d.rcpt_to || !d.message)
        add_retry(o, cfg, row, "the mail has no sender, recipient or message");
    else if (!gw_smtp_configured(cfg))
        add_skipped(o, row, "no SMTP server configured");
    else
        send_and_record(curl, cfg, row, &d, o);
    json_decref(payload);
}

/* The adapter that words notices of this outbox kind, if any (gw_channel.notice_kinds). */
static const struct gw_channel *notice_owner(const char *kind)
{
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        for (const char *const *k = (*c)->notice_kinds; k && *k && (*c)->render_notice; k++)
            if (!strcmp(*k, kind))
                return *c;
    return NULL;
}

/* Posts event into the live session while it is open; false when it is closed or unknown. */
static bool post_to_session(PGconn *conn, const json_t *session, const json_t *event)
{
    if (!json_is_integer(session) || !event)
        return false;
    char sid[32];
    snprintf(sid, sizeof(sid), "%" JSON_INTEGER_FORMAT, json_integer_value(session));
    char *text = json_dumps(event, JSON_COMPACT);
    const char *params[] = {sid, text};
    PGresult *res = text ? PQexecParams(conn, "SELECT intake_session_notice($1::bigint, $2::jsonb)",
                                        2, NULL, params, NULL, NULL, 0)
                         : NULL;
    bool posted = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                  !PQgetisnull(res, 0, 0);
    PQclear(res);
    free(text);
    return posted;
}

/*
 * An adapter's notice to a customer: into their live session while they
 * are still in it (an event of the session), else to their address like a
 * reply.
 */
static void deliver_notice(PGconn *conn, CURL *curl, const struct gw_config *cfg,
                           const struct gw_channel *ch, const struct claimed *row,
                           struct outcomes *o)
{
    json_t *payload = json_loads(row->payload, 0, NULL);
    struct gw_arena *arena = gw_arena_create(1024);
    json_t *event = NULL;
    if (!payload || !arena || ch->render_notice(payload, cfg, arena, &event) != GW_OK) {
        add_retry(o, cfg, row, "could not word the notice");
    } else if (post_to_session(conn, json_object_get(payload, "session"), event)) {
        add_id(o->sent, row->id);
    } else {
        json_object_set_new(payload, "notice", json_true());
        deliver_to_address(curl, cfg, row, payload, o);
    }
    json_decref(event);
    gw_arena_destroy(arena);
    json_decref(payload);
}

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
        const struct gw_channel *owner = NULL;
        if (!strcmp(row.kind, "ack"))
            deliver_ack(conn, curl, cfg, &row, &o);
        else if (!strcmp(row.kind, "reply"))
            deliver_reply(curl, cfg, &row, &o);
        else if (!strcmp(row.kind, "queue_webhook"))
            deliver_queue_webhook(curl, cfg, &row, &o);
        else if (!strcmp(row.kind, "mail"))
            deliver_mail(curl, cfg, &row, &o);
        else if ((owner = notice_owner(row.kind)) != NULL)
            deliver_notice(conn, curl, cfg, owner, &row, &o);
        else
            add_retry(&o, cfg, &row, "unknown outbox kind");
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

/* Sleeps until KICK_GAP_MS after since (a stop ends it early); kicks wait for the next pass. */
static void keep_gap(struct gw_outbox *ob, double since)
{
    double left = since + KICK_GAP_MS - mono_ms();
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
        double started = mono_ms();
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
