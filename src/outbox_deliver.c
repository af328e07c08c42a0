/*
 * The delivery of one outbox row: its channel renders it (an
 * acknowledgement, a reply to the customer's address, a notice into a live
 * session) or it is sent as it stands (a queue's webhook, a composed mail),
 * the core's senders carry it (SMTP, HTTP), and the outcome is noted for
 * the pass to write back: sent, skipped (nothing to send), or a retry after
 * the row's back-off, doubling per attempt, under its receiver's name when
 * the receiver could not be reached (outbox_receiver.c). Channels are
 * reached only through include/gw_channel.h.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_config.h"
#include "gw_http_send.h"
#include "gw_log.h"
#include "gw_sign.h"
#include "gw_smtp_send.h"
#include "outbox_private.h"

#define MAX_BACKOFF_S 3600

static void add_id(json_t *list, const char *id)
{
    json_array_append_new(list, json_integer((json_int_t)strtoll(id, NULL, 10)));
}

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
    double started = outbox_mono_ms();
    enum gw_err err = send_delivery(curl, cfg, row, d, why, sizeof(why));
    if (named && (err == GW_OK || err == GW_ERR_DELIVERY))
        add_reached(o, receiver);
    if (err != GW_OK) {
        log_failure(row, why, false);
        if (named && err == GW_ERR_UNREACHABLE)
            add_away(o, cfg, row, why, receiver, (outbox_mono_ms() - started) / 1e3);
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

void outbox_deliver(PGconn *conn, void *curl, const struct gw_config *cfg,
                    const struct claimed *row, struct outcomes *o)
{
    const struct gw_channel *owner = NULL;
    if (!strcmp(row->kind, "ack"))
        deliver_ack(conn, curl, cfg, row, o);
    else if (!strcmp(row->kind, "reply"))
        deliver_reply(curl, cfg, row, o);
    else if (!strcmp(row->kind, "queue_webhook"))
        deliver_queue_webhook(curl, cfg, row, o);
    else if (!strcmp(row->kind, "mail"))
        deliver_mail(curl, cfg, row, o);
    else if ((owner = notice_owner(row->kind)) != NULL)
        deliver_notice(conn, curl, cfg, owner, row, o);
    else
        add_retry(o, cfg, row, "unknown outbox kind");
}
