/*
 * One chat socket's life: hello (a new session, or a stored one resumed by
 * its token), then messages. The rule that keeps the customer's view whole:
 * events go out in sequence order only, each once per socket. last_sent is
 * the highest number this socket has sent; whatever is newer is fetched from
 * the database (one fetch in flight per socket) and sent in order, whether
 * the news came from our own commit or a NOTIFY from another gateway.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "gw_config.h"
#include "gw_replay.h"
#include "gw_socket.h"
#include "gw_token.h"

enum phase { WAIT_HELLO, OPENING, OPEN, LEAVING };

/* Why a job was submitted, kept in the job's arena. */
enum purpose { FOR_OPEN, FOR_RESUME, FOR_FETCH, FOR_MESSAGE, FOR_LEAVE };

struct chat_conn {
    enum phase phase;
    struct gw_replay replay; /* the session and what this socket has sent of it */
    int sending;             /* message jobs in flight: their answers bring the news */
    long long notified;      /* the highest event number a notification announced */
    int invalid;
    double tokens; /* the session's message bucket */
    double tokens_at;
    double typing_at; /* when this socket last passed on that the customer types */
    char language[4];
    char origin[128];
    char token[48]; /* a new session's token until the welcome carries it */
    char visitor[24];
};

/* Process-wide: settings and the per-address message limit. */
struct chat_shared {
    struct chat_settings settings;
    struct gw_ratelimit *per_address;
};

static void *create_shared(const struct gw_config *cfg)
{
    struct chat_shared *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return NULL;
    chat_settings_read(cfg, &sh->settings);
    sh->per_address = gw_ratelimit_create(sh->settings.address_per_minute / 60.0,
                                          sh->settings.address_per_minute / 6.0 + 1, 0);
    return sh;
}

static void destroy_shared(void *p)
{
    struct chat_shared *sh = p;
    if (!sh)
        return;
    gw_ratelimit_destroy(sh->per_address);
    chat_settings_free(&sh->settings);
    free(sh);
}

static void send_text(struct gw_socket *sock, const char *text)
{
    if (text)
        gw_socket_send(sock, text, strlen(text));
}

/* Tells the client what was wrong; too many such errors close the socket. */
static void refuse(struct gw_socket *sock, struct chat_conn *c, const char *code,
                   const char *reason, const char *field, const char *client_id)
{
    struct chat_shared *sh = gw_socket_shared(sock);
    struct gw_arena *arena = gw_arena_create(512);
    const struct chat_problem p = {code, reason, field};
    send_text(sock, arena ? chat_error_json(arena, &p, client_id) : NULL);
    gw_arena_destroy(arena);
    if (++c->invalid >= sh->settings.invalid_before_close)
        gw_socket_close(sock, GW_CLOSE_POLICY, "too many invalid or refused messages");
}

/* A database operation for this socket; the socket closes when it cannot be submitted. */
static bool submit(struct gw_socket *sock, const struct gw_operation *op, enum purpose why,
                   json_t *doc)
{
    if (gw_socket_submit_operation(sock, op, doc, why) == GW_OK)
        return true;
    gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "the gateway is busy; reconnect shortly");
    return false;
}

/* One event as the client sees it. */
static void emit_event(struct gw_socket *sock, json_t *event)
{
    struct gw_arena *arena = gw_arena_create(4096);
    send_text(sock, arena ? chat_event_json(arena, event) : NULL);
    gw_arena_destroy(arena);
}

static void send_welcome(struct gw_socket *sock, struct chat_conn *c, json_t *answer, bool resumed)
{
    json_t *w =
        json_pack("{s:s, s:s?, s:s?, s:b, s:O?, s:O?}", "type", "welcome", "session",
                  json_string_value(json_object_get(answer, "visitor")), "token",
                  resumed ? NULL : c->token, "resumed", resumed, "last_seq",
                  json_object_get(answer, "last_seq"), "ticket", json_object_get(answer, "ticket"));
    char *text = w ? json_dumps(w, JSON_COMPACT) : NULL;
    json_decref(w);
    send_text(sock, text);
    free(text);
    memset(c->token, 0, sizeof(c->token)); /* the browser has it; we keep only its hash */
}

static void start_session(struct gw_socket *sock, struct chat_conn *c, const struct chat_frame *f)
{
    char hash[65];
    if (f->language)
        snprintf(c->language, sizeof(c->language), "%s", f->language);
    if (f->token) {
        gw_token_hash(f->token, hash);
        c->replay.last_sent = f->last_seq;
        json_t *doc = json_pack("{s:s, s:I, s:i}", "token_hash", hash, "after",
                                (json_int_t)f->last_seq, "limit", GW_REPLAY_FETCH_LIMIT);
        c->phase = OPENING;
        submit(sock, &gw_op_session_events, FOR_RESUME, doc);
        return;
    }
    if (!gw_token_new(c->token, sizeof(c->token)) ||
        !chat_new_visitor(c->visitor, sizeof(c->visitor))) {
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "no randomness available");
        return;
    }
    gw_token_hash(c->token, hash);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "token_hash", hash, "visitor", c->visitor,
        "channel", CHAT_CHANNEL, "name", f->name, "email", f->email, "phone", f->phone, "language",
        c->language[0] ? c->language : NULL, "origin", c->origin[0] ? c->origin : NULL);
    c->phase = OPENING;
    submit(sock, &chat_operations[CHAT_OP_OPEN], FOR_OPEN, doc);
}

/* The first line of the first words, as the ticket's subject. */
static const char *subject_of(struct gw_arena *arena, const char *text)
{
    while (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t')
        text++;
    size_t n = strcspn(text, "\r\n");
    size_t cut = 0, chars = 0;
    while (cut < n && chars < 60) {
        unsigned char b = (unsigned char)text[cut];
        cut += b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
        chars++;
    }
    if (cut > n)
        cut = n;
    return gw_arena_printf(arena, "Chat: %.*s%s", (int)cut, text, cut < n ? "…" : "");
}

static void send_message(struct gw_socket *sock, struct chat_conn *c, const struct chat_frame *f)
{
    struct gw_intake_job *job = gw_socket_new_job(sock);
    struct gw_session_message *sm = job ? gw_arena_zalloc(job->arena, sizeof(*sm)) : NULL;
    if (!sm) {
        if (job)
            gw_arena_destroy(job->arena);
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "out of memory");
        return;
    }
    struct gw_arena *a = job->arena;
    sm->session = c->replay.session;
    sm->client_id = gw_arena_strdup(a, f->client_id);
    sm->after = c->replay.last_sent;
    struct gw_contact *ct = &job->contact;
    ct->channel = CHAT_CHANNEL;
    ct->idempotency_key = gw_arena_printf(a, "chat:%lld:%s", c->replay.session, f->client_id);
    ct->external_ref = gw_arena_printf(a, "chat:%lld:%s", c->replay.session, f->client_id);
    ct->subject = subject_of(a, f->text);
    ct->body = gw_arena_strdup(a, f->text);
    ct->sender.language = c->language[0] ? gw_arena_strdup(a, c->language) : NULL;
    ct->no_ack_reason = "acknowledged in the chat session";
    ct->session = sm;
    job->kind = GW_JOB_REGISTER;
    job->purpose = FOR_MESSAGE;
    if (!ct->idempotency_key || !ct->subject || !ct->body) {
        gw_arena_destroy(a);
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "out of memory");
        return;
    }
    if (gw_socket_submit(sock, job) == GW_OK) {
        c->sending++;
    } else {
        /* Not stored: the client keeps the message and sends it again. */
        refuse(sock, c, "busy", "too many messages waiting; send it again shortly", NULL,
               f->client_id);
    }
}

/* Token buckets: this session's, and this address's across all its sockets. */
static bool within_rate(struct gw_socket *sock, struct chat_conn *c)
{
    struct chat_shared *sh = gw_socket_shared(sock);
    double now = gw_socket_now(), per_s = sh->settings.session_per_minute / 60.0;
    double burst = sh->settings.session_per_minute / 6.0 + 1;
    c->tokens += (now - c->tokens_at) * per_s;
    c->tokens_at = now;
    if (c->tokens > burst)
        c->tokens = burst;
    int retry = 0;
    if (c->tokens < 1 || (sh->per_address &&
                          !gw_ratelimit_allow(sh->per_address, gw_socket_peer(sock), now, &retry)))
        return false;
    c->tokens -= 1;
    return true;
}

static void on_open(struct gw_socket *sock, void *state)
{
    struct chat_conn *c = state;
    c->replay.purpose = FOR_FETCH;
    c->replay.emit = emit_event;
    struct chat_shared *sh = gw_socket_shared(sock);
    if (!sh) {
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "chat is not available");
        return;
    }
    struct gw_arena *arena = gw_arena_create(1024);
    const char *origin = arena ? gw_socket_header(sock, "origin", arena) : NULL;
    const char *lang = arena ? gw_socket_header(sock, "accept-language", arena) : NULL;
    if (origin)
        snprintf(c->origin, sizeof(c->origin), "%s", origin);
    if (lang && !strncasecmp(lang, "zh", 2))
        snprintf(c->language, sizeof(c->language), "zh");
    bool allowed = chat_origin_allowed(&sh->settings, origin);
    gw_arena_destroy(arena);
    c->tokens = sh->settings.session_per_minute / 6.0 + 1;
    c->tokens_at = gw_socket_now();
    if (!allowed) {
        gw_socket_close(sock, GW_CLOSE_POLICY, "origin not allowed");
        return;
    }
    gw_socket_set_deadline(sock, sh->settings.hello_timeout_s);
}

/*
 * The session's agent hears that the customer types (db/functions/sessions.sql,
 * intake_session_signals). One signal per CHAT_TYPING_EVERY_S at most, whatever the client sends:
 * the agent's console shows it for longer than that.
 */
static void tell_typing(struct gw_socket *sock, struct chat_conn *c)
{
    double now = gw_socket_now();
    if (c->typing_at && now - c->typing_at < CHAT_TYPING_EVERY_S)
        return;
    c->typing_at = now;
    gw_socket_signal(sock, json_pack("{s:s, s:I}", "typing", "customer", "session",
                                     (json_int_t)c->replay.session));
}

static void on_message(struct gw_socket *sock, void *state, const char *data, size_t len,
                       bool binary)
{
    struct chat_conn *c = state;
    if (binary) {
        refuse(sock, c, "invalid_frame", "messages are JSON text, not binary", NULL, NULL);
        return;
    }
    if (!within_rate(sock, c)) {
        refuse(sock, c, "rate_limited", "too many messages; wait a moment", NULL, NULL);
        return;
    }
    struct gw_arena *arena = gw_arena_create(1024);
    struct chat_frame f;
    struct chat_problem p;
    if (!arena) {
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "out of memory");
        return;
    }
    if (!chat_parse_frame(data, len, arena, &f, &p)) {
        refuse(sock, c, p.code, p.reason, p.field, NULL);
    } else if (c->phase == WAIT_HELLO) {
        if (f.type == CHAT_HELLO) {
            gw_socket_set_deadline(sock, 0);
            start_session(sock, c, &f);
        } else
            refuse(sock, c, "hello_first", "say hello first", "type", NULL);
    } else if (c->phase != OPEN) {
        refuse(sock, c, "not_ready", "wait for the welcome", NULL, f.client_id);
    } else if (f.type == CHAT_MESSAGE) {
        send_message(sock, c, &f);
    } else if (f.type == CHAT_CLOSE) {
        json_t *doc = json_pack("{s:I}", "session", (json_int_t)c->replay.session);
        c->phase = LEAVING;
        submit(sock, &chat_operations[CHAT_OP_LEAVE], FOR_LEAVE, doc);
    } else if (f.type == CHAT_HELLO) {
        refuse(sock, c, "already_open", "this socket has its session already", NULL, NULL);
    } else if (f.type == CHAT_TYPING) {
        tell_typing(sock, c);
    }
    gw_arena_destroy(arena);
}

static void after_message(struct gw_socket *sock, struct chat_conn *c, struct gw_intake_job *job,
                          json_t *answer)
{
    const char *client_id = job->contact.session->client_id;
    if (job->result.err != GW_OK || !answer) {
        struct gw_arena *arena = gw_arena_create(512);
        const struct chat_problem p = {"not_stored",
                                       job->result.err == GW_ERR_INVALID
                                           ? "the message was refused"
                                           : "the message was not stored; send it again",
                                       NULL};
        send_text(sock, arena ? chat_error_json(arena, &p, client_id) : NULL);
        gw_arena_destroy(arena);
        return;
    }
    json_t *ack = json_pack("{s:s, s:s, s:O?, s:s, s:b}", "type", "ack", "client_id", client_id,
                            "seq", json_object_get(answer, "seq"), "ticket", job->result.ticket,
                            "duplicate", job->result.duplicate);
    char *text = ack ? json_dumps(ack, JSON_COMPACT) : NULL;
    json_decref(ack);
    send_text(sock, text);
    free(text);
    /* The answer brought what this socket had not seen; more (or a gap): fetch. */
    if (gw_replay_send(sock, &c->replay, answer) || c->notified > c->replay.last_sent)
        gw_replay_fetch(sock, &c->replay);
}

static void on_job_done(struct gw_socket *sock, void *state, struct gw_intake_job *job)
{
    struct chat_conn *c = state;
    enum purpose why = job->purpose;
    json_t *answer = job->result.document ? json_loads(job->result.document, 0, NULL) : NULL;
    bool found = json_is_true(json_object_get(answer, "found"));
    switch (why) {
    case FOR_MESSAGE:
        c->sending--;
        after_message(sock, c, job, answer);
        break;
    case FOR_OPEN:
    case FOR_RESUME:
        if (job->result.err != GW_OK || !answer) {
            gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "the gateway cannot reach its database");
        } else if (!found) {
            gw_socket_close(sock, CHAT_CLOSE_UNKNOWN_SESSION, "unknown session; start a new one");
        } else {
            c->replay.session = (long long)json_integer_value(json_object_get(answer, "session"));
            c->phase = OPEN;
            gw_socket_watch(sock, c->replay.session);
            send_welcome(sock, c, answer, why == FOR_RESUME);
            gw_replay_start(sock, &c->replay, answer);
        }
        break;
    case FOR_FETCH:
        gw_replay_fetched(sock, &c->replay, job->result.err == GW_OK ? answer : NULL);
        break;
    case FOR_LEAVE:
        gw_socket_close(sock, CHAT_CLOSE_ENDED, "conversation ended");
        break;
    }
    json_decref(answer);
}

static void on_session_event(struct gw_socket *sock, void *state, long long seq)
{
    struct chat_conn *c = state;
    if (seq > c->notified)
        c->notified = seq;
    if (c->phase != OPEN || (seq != 0 && seq <= c->replay.last_sent))
        return;
    /*
     * Usually our own message's commit: its answer is on the way with the
     * events, and after_message fetches whatever it did not bring.
     */
    if (c->sending > 0 && seq != 0)
        return;
    gw_replay_fetch(sock, &c->replay);
}

/* The agent is typing: passed on as it came, unnumbered (the widget shows it for a while). */
static void on_session_signal(struct gw_socket *sock, void *state, const char *json)
{
    struct chat_conn *c = state;
    if (c->phase == OPEN)
        send_text(sock, json);
}

const struct gw_socket_route chat_socket_route = {
    .path = CHAT_PATH,
    .protocol = CHAT_PROTOCOL,
    .state_size = sizeof(struct chat_conn),
    .max_message = CHAT_MESSAGE_MAX,
    .create_shared = create_shared,
    .destroy_shared = destroy_shared,
    .on_open = on_open,
    .on_message = on_message,
    .on_job_done = on_job_done,
    .on_session_event = on_session_event,
    .on_session_signal = on_session_signal,
};
