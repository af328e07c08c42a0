/*
 * The agent stream, WebSocket /v1/agent/stream (subprotocol intake-agent.v1).
 * The agent says hello with their token (a browser cannot set headers on a
 * WebSocket) and the last sequence number they saw; the gateway answers
 * with a welcome and every event after that number, then pushes new ones:
 * ticket.assigned, ticket.updated, message.new, ticket.escalated,
 * sla.breached, followup.opened. Events are the agent's live session in the
 * database (db/functions/desk.sql), so they survive reconnects and reach the
 * socket whichever gateway wrote them, in order and once, as in the chat.
 *
 * Presence drives assignment: an open stream is "online" (or "away" when the
 * agent says so). Each open stream is a row in the database (db/functions/agents.sql), on
 * whichever gateway holds it, renewed every third of
 * agents.stream_lease_seconds; the agent goes offline when their last row
 * goes, closed here or on another gateway, or swept once its gateway died.
 * docs/desk.md has the protocol.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_replay.h"
#include "gw_token.h"

#define HELLO_TIMEOUT_S 10
#define MESSAGE_MAX     4096
#define TOKEN_MAX       200
#define TYPING_EVERY_S  2.0 /* at most one "agent is typing" per socket and ticket this often */

enum phase { WAIT_HELLO, OPENING, OPEN };
enum purpose { FOR_HELLO, FOR_FETCH, FOR_PRESENCE, FOR_RENEW, FOR_GOODBYE };

struct stream_conn {
    enum phase phase;
    long long agent;
    long long stream;        /* this socket's row in agent_streams */
    struct gw_replay replay; /* the agent's stream and what this socket has sent of it */
    int invalid;
    double typing_at;       /* when this socket last passed on that the agent types */
    char typing_ticket[32]; /* on which ticket: another one is passed on at once */
    char token_hash[65];
};

static void send_json(struct gw_socket *sock, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text)
        gw_socket_send(sock, text, strlen(text));
    free(text);
}

static void refuse(struct gw_socket *sock, struct stream_conn *c, const char *code,
                   const char *reason)
{
    send_json(sock, json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "reason", reason));
    if (++c->invalid >= 3)
        gw_socket_close(sock, GW_CLOSE_POLICY, "too many invalid messages");
}

/*
 * A database operation for this socket; it closes when the gateway cannot
 * take one the agent asked for (a renewal is tried again at the next turn).
 */
static bool submit(struct gw_socket *sock, json_t *doc, enum purpose why)
{
    if (gw_socket_submit_operation(sock, &desk_operations[DESK_OP_DESK], doc, why) == GW_OK)
        return true;
    if (why != FOR_GOODBYE && why != FOR_RENEW)
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "the gateway is busy; reconnect shortly");
    return false;
}

/* How often this socket's row is renewed: a third of the lease. */
static int renew_every(struct gw_socket *sock)
{
    int s = desk_settings(gw_socket_config(sock))->stream_lease_s / 3;
    return s > 0 ? s : 1;
}

/* A desk action on behalf of this socket's agent. */
static json_t *desk_doc(struct gw_socket *sock, struct stream_conn *c, const char *action)
{
    json_t *doc = desk_document(gw_socket_config(sock), action);
    if (doc)
        json_object_set_new(doc, "token_hash", json_string(c->token_hash));
    return doc;
}

/*
 * A desk action on this socket's row in agent_streams (db/functions/agents.sql): the lease
 * says the row is renewed (a gateway that does not renew asks for none).
 */
static json_t *stream_doc(struct gw_socket *sock, struct stream_conn *c, const char *action)
{
    json_t *doc = desk_doc(sock, c, action);
    json_object_set_new(doc, "stream", json_integer((json_int_t)c->stream));
    json_object_set_new(doc, "lease_s",
                        json_integer(desk_settings(gw_socket_config(sock))->stream_lease_s));
    return doc;
}

/* An event goes out as stored. */
static void emit_event(struct gw_socket *sock, json_t *event)
{
    send_json(sock, json_incref(event));
}

static bool is_presence(const char *p)
{
    return p && (!strcmp(p, "online") || !strcmp(p, "away"));
}

static void on_hello(struct gw_socket *sock, struct stream_conn *c, json_t *msg)
{
    const char *token = json_string_value(json_object_get(msg, "token"));
    json_t *after = json_object_get(msg, "after");
    const char *presence = json_string_value(json_object_get(msg, "presence"));
    if (!token || !*token || strlen(token) > TOKEN_MAX) {
        refuse(sock, c, "invalid_field", "hello needs the agent's token");
        return;
    }
    if (after && (!json_is_integer(after) || json_integer_value(after) < 0)) {
        refuse(sock, c, "invalid_field", "after must be a sequence number");
        return;
    }
    if (json_object_get(msg, "presence") && !is_presence(presence)) {
        refuse(sock, c, "invalid_field", "presence must be online or away");
        return;
    }
    gw_token_hash(token, c->token_hash);
    c->replay.last_sent = after ? (long long)json_integer_value(after) : 0;
    json_t *doc = stream_doc(sock, c, "stream");
    json_object_set_new(doc, "after", json_integer((json_int_t)c->replay.last_sent));
    if (presence)
        json_object_set_new(doc, "presence", json_string(presence));
    gw_socket_set_deadline(sock, 0);
    c->phase = OPENING;
    submit(sock, doc, FOR_HELLO);
}

static void on_open(struct gw_socket *sock, void *state)
{
    struct stream_conn *c = state;
    c->replay.purpose = FOR_FETCH;
    c->replay.emit = emit_event;
    gw_socket_set_deadline(sock, HELLO_TIMEOUT_S);
}

/* The customers in a chat on the ticket hear that an agent types (db/functions/sessions.sql,
 * intake_session_signals). */
static void tell_typing(struct gw_socket *sock, struct stream_conn *c, const char *ticket)
{
    if (!ticket || !desk_is_ticket_number(ticket, strlen(ticket))) {
        refuse(sock, c, "invalid_field", "typing names the ticket by its number");
        return;
    }
    double now = gw_socket_now();
    bool same_ticket = !strcmp(ticket, c->typing_ticket);
    if (same_ticket && c->typing_at && now - c->typing_at < TYPING_EVERY_S)
        return;
    c->typing_at = now;
    snprintf(c->typing_ticket, sizeof(c->typing_ticket), "%s", ticket);
    gw_socket_signal(sock, json_pack("{s:s, s:I, s:s}", "typing", "agent", "agent",
                                     (json_int_t)c->agent, "ticket", ticket));
}

static void on_message(struct gw_socket *sock, void *state, const char *data, size_t len,
                       bool binary)
{
    struct stream_conn *c = state;
    json_t *msg = binary ? NULL : json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!json_is_object(msg) || !type) {
        refuse(sock, c, "invalid_frame", "messages are JSON objects with a type");
    } else if (c->phase == WAIT_HELLO) {
        if (!strcmp(type, "hello"))
            on_hello(sock, c, msg);
        else
            refuse(sock, c, "hello_first", "say hello first");
    } else if (c->phase != OPEN) {
        refuse(sock, c, "not_ready", "wait for the welcome");
    } else if (!strcmp(type, "presence")) {
        const char *p = json_string_value(json_object_get(msg, "presence"));
        if (!is_presence(p)) {
            refuse(sock, c, "invalid_field", "presence must be online or away");
        } else {
            json_t *doc = desk_doc(sock, c, "presence");
            json_object_set_new(doc, "presence", json_string(p));
            submit(sock, doc, FOR_PRESENCE);
        }
    } else if (!strcmp(type, "typing")) {
        tell_typing(sock, c, json_string_value(json_object_get(msg, "ticket")));
    } else {
        refuse(sock, c, "unknown_type", "this stream takes presence and typing messages only");
    }
    json_decref(msg);
}

static void welcome(struct gw_socket *sock, struct stream_conn *c, json_t *body)
{
    c->agent = (long long)json_integer_value(json_object_get(json_object_get(body, "agent"), "id"));
    c->replay.session = (long long)json_integer_value(json_object_get(body, "session"));
    c->stream = (long long)json_integer_value(json_object_get(body, "stream"));
    c->phase = OPEN;
    gw_socket_set_timer(sock, renew_every(sock));
    gw_socket_watch(sock, c->replay.session);
    send_json(sock, json_pack("{s:s, s:O, s:O}", "type", "welcome", "agent",
                              json_object_get(body, "agent"), "last_seq",
                              json_object_get(body, "last_seq")));
    gw_replay_start(sock, &c->replay, body);
}

static void on_job_done(struct gw_socket *sock, void *state, struct gw_intake_job *job)
{
    struct stream_conn *c = state;
    enum purpose why = job->purpose;
    json_t *answer = job->result.document ? json_loads(job->result.document, 0, NULL) : NULL;
    json_t *body = json_object_get(answer, "body");
    bool ok = job->result.err == GW_OK && answer;
    switch (why) {
    case FOR_HELLO:
        if (!ok)
            gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "the gateway cannot reach its database");
        else if (!body)
            gw_socket_close(sock, DESK_CLOSE_UNAUTHORIZED,
                            json_string_value(json_object_get(answer, "error")));
        else
            welcome(sock, c, body);
        break;
    case FOR_FETCH:
        gw_replay_fetched(sock, &c->replay, ok ? answer : NULL);
        break;
    case FOR_PRESENCE:
        if (body)
            send_json(sock, json_pack("{s:s, s:O}", "type", "presence", "agent", body));
        else
            refuse(sock, c, "not_stored", "presence was not changed; try again");
        break;
    case FOR_RENEW: {
        /*
         * Refused: the agent's token was replaced or the agent disabled since
         * the stream opened, and the database has taken its row (intake_desk_stream_renew).
         * A database error is not an answer: the next turn tries again.
         */
        if (ok && json_integer_value(json_object_get(answer, "status")) == 401) {
            gw_socket_close(sock, DESK_CLOSE_UNAUTHORIZED,
                            json_string_value(json_object_get(answer, "error")));
            break;
        }
        /* A new row when the old one was swept; otherwise the same. */
        long long stream = (long long)json_integer_value(json_object_get(body, "stream"));
        if (stream)
            c->stream = stream;
        break;
    }
    case FOR_GOODBYE:
        break;
    }
    json_decref(answer);
}

static void on_session_event(struct gw_socket *sock, void *state, long long seq)
{
    struct stream_conn *c = state;
    if (c->phase == OPEN && (seq == 0 || seq > c->replay.last_sent))
        gw_replay_fetch(sock, &c->replay);
}

/* A customer is typing on one of the agent's tickets: passed on as it came, unnumbered. */
static void on_session_signal(struct gw_socket *sock, void *state, const char *json)
{
    struct stream_conn *c = state;
    if (c->phase == OPEN)
        gw_socket_send(sock, json, strlen(json));
}

/* Tells the database this stream is still open, so its agent stays online. */
static void on_timer(struct gw_socket *sock, void *state)
{
    struct stream_conn *c = state;
    if (c->phase != OPEN)
        return;
    submit(sock, stream_doc(sock, c, "stream_renew"), FOR_RENEW);
    gw_socket_set_timer(sock, renew_every(sock));
}

/* The stream is gone: its row goes, and the agent offline if it was their last. */
static void on_close(struct gw_socket *sock, void *state)
{
    struct stream_conn *c = state;
    if (c->phase != OPEN)
        return;
    submit(sock, stream_doc(sock, c, "stream_closed"), FOR_GOODBYE);
}

const struct gw_socket_route desk_stream_route = {
    .path = DESK_STREAM_PATH,
    .protocol = DESK_STREAM_PROTOCOL,
    .state_size = sizeof(struct stream_conn),
    .max_message = MESSAGE_MAX,
    .on_open = on_open,
    .on_message = on_message,
    .on_job_done = on_job_done,
    .on_session_event = on_session_event,
    .on_session_signal = on_session_signal,
    .on_timer = on_timer,
    .on_close = on_close,
};
