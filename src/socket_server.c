/*
 * The WebSocket host (see gw_socket.h): one lws protocol per socket route,
 * on the same context and loop as the HTTP front. A socket's outgoing
 * messages wait in a bounded queue (lws writes one per writable callback);
 * a client that does not read is closed rather than buffered without end.
 * Sockets watching a live session are kept in a hash table by session, so a
 * notification finds its sockets without a scan.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_announcer.h"
#include "gw_channel.h"
#include "gw_listener.h"
#include "gw_client_address.h"
#include "gw_log.h"
#include "gw_socket.h"
#include "server_private.h"

#define SEND_QUEUE_MAX  (256 * 1024) /* bytes waiting for a slow reader before we close */
#define JOBS_PER_SOCKET 8            /* database jobs in flight per socket */
#define HUB_BUCKETS     4096
#define TAKE_BATCH      1024
#define SIGNAL_BATCH    64

struct frame {
    struct frame *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes, then the message */
};

struct route_entry {
    const struct gw_socket_route *route;
    void *shared;
};

struct socket_hub {
    struct route_entry *routes;
    size_t n_routes;
    struct gw_socket *buckets[HUB_BUCKETS];
};

struct gw_socket {
    struct job_owner owner; /* first: a job's owner points here */
    struct lws *wsi;
    struct gw_server *srv;
    const struct route_entry *entry;
    struct frame *head, *tail;
    size_t queued;
    unsigned char *partial; /* a message arriving in several fragments */
    size_t partial_len;
    bool partial_binary;
    bool in_open;  /* the handshake's headers are readable */
    bool in_close; /* on_close runs: its last jobs are taken even while draining */
    bool closing;
    int close_code;
    char close_reason[124];
    long long watched;
    struct gw_socket *next_watch;
    lws_sorted_usec_list_t deadline; /* gw_socket_set_deadline's timer */
    lws_sorted_usec_list_t timer;    /* gw_socket_set_timer's */
    struct gw_intake_job *jobs[JOBS_PER_SOCKET];
    char peer[48];
    char request_id[GW_REQUEST_ID_SIZE];        /* the session's (gw_log.h), from its handshake */
    alignas(max_align_t) unsigned char state[]; /* the route's, state_size bytes */
};

static size_t bucket_of(long long session)
{
    return (size_t)((unsigned long long)session * 0x9E3779B97F4A7C15ULL >> 52) % HUB_BUCKETS;
}

static void unwatch(struct socket_hub *hub, struct gw_socket *sock)
{
    if (!sock->watched)
        return;
    struct gw_socket **p = &hub->buckets[bucket_of(sock->watched)];
    while (*p && *p != sock)
        p = &(*p)->next_watch;
    if (*p)
        *p = sock->next_watch;
    sock->next_watch = NULL;
    sock->watched = 0;
}

void gw_socket_watch(struct gw_socket *sock, long long session)
{
    struct socket_hub *hub = sock->srv->hub;
    if (sock->watched == session)
        return;
    unwatch(hub, sock);
    if (session <= 0)
        return;
    size_t b = bucket_of(session);
    sock->watched = session;
    sock->next_watch = hub->buckets[b];
    hub->buckets[b] = sock;
}

void *gw_socket_shared(struct gw_socket *sock)
{
    return sock->entry->shared;
}

const struct gw_config *gw_socket_config(struct gw_socket *sock)
{
    return sock->srv->cfg;
}

const char *gw_socket_peer(struct gw_socket *sock)
{
    return sock->peer;
}

double gw_socket_now(void)
{
    return gw_server_now();
}

const char *gw_socket_header(struct gw_socket *sock, const char *name, struct gw_arena *arena)
{
    static const struct {
        const char *name;
        enum lws_token_indexes token;
    } known[] = {{"origin", WSI_TOKEN_ORIGIN},
                 {"user-agent", WSI_TOKEN_HTTP_USER_AGENT},
                 {"accept-language", WSI_TOKEN_HTTP_ACCEPT_LANGUAGE},
                 {"host", WSI_TOKEN_HOST}};
    if (!sock->in_open)
        return NULL;
    char buf[1024];
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(known[i].name, name)) {
            int n = lws_hdr_copy(sock->wsi, buf, sizeof(buf), known[i].token);
            return n > 0 ? gw_arena_strndup(arena, buf, (size_t)n) : NULL;
        }
    return NULL;
}

static void deadline_passed(lws_sorted_usec_list_t *sul)
{
    struct gw_socket *sock = lws_container_of(sul, struct gw_socket, deadline);
    gw_socket_close(sock, GW_CLOSE_POLICY, "timed out");
}

/*
 * The socket's lws timers (the deadline, the route's timer): on our libev
 * loop they fire on time because gw_server_run wakes lws four times a second
 * (src/server.c, lws_timer_tick). 0 seconds cancels.
 */
static void schedule(struct gw_socket *sock, lws_sorted_usec_list_t *sul, sul_cb_t fired, int secs)
{
    if (secs > 0)
        lws_sul_schedule(lws_get_context(sock->wsi), 0, sul, fired,
                         (lws_usec_t)secs * LWS_US_PER_SEC);
    else
        lws_sul_cancel(sul);
}

/* The close says why, where lws_set_timeout would drop the connection without a word. */
void gw_socket_set_deadline(struct gw_socket *sock, int secs)
{
    schedule(sock, &sock->deadline, deadline_passed, secs);
}

static void timer_fired(lws_sorted_usec_list_t *sul)
{
    struct gw_socket *sock = lws_container_of(sul, struct gw_socket, timer);
    const char *was = gw_log_set_request(sock->request_id);
    if (!sock->closing && sock->entry->route->on_timer)
        sock->entry->route->on_timer(sock, sock->state);
    gw_log_set_request(was);
}

/* For a route's own periodic work. */
void gw_socket_set_timer(struct gw_socket *sock, int secs)
{
    schedule(sock, &sock->timer, timer_fired, secs);
}

void gw_socket_close(struct gw_socket *sock, int code, const char *reason)
{
    if (sock->closing)
        return;
    sock->closing = true;
    sock->close_code = code;
    snprintf(sock->close_reason, sizeof(sock->close_reason), "%s", reason ? reason : "");
    lws_callback_on_writable(sock->wsi);
}

bool gw_socket_send(struct gw_socket *sock, const char *text, size_t len)
{
    if (sock->closing)
        return false;
    if (sock->queued + len > SEND_QUEUE_MAX) {
        gw_socket_close(sock, GW_CLOSE_POLICY, "client does not read its messages");
        return false;
    }
    struct frame *f = malloc(sizeof(*f) + LWS_PRE + len);
    if (!f) {
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "out of memory");
        return false;
    }
    f->next = NULL;
    f->len = len;
    memcpy(f->buf + LWS_PRE, text, len);
    if (sock->tail)
        sock->tail->next = f;
    else
        sock->head = f;
    sock->tail = f;
    sock->queued += len;
    lws_callback_on_writable(sock->wsi);
    return true;
}

struct gw_intake_job *gw_socket_new_job(struct gw_socket *sock)
{
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_intake_job *job = arena ? gw_arena_zalloc(arena, sizeof(*job)) : NULL;
    if (!job) {
        gw_arena_destroy(arena);
        return NULL;
    }
    job->arena = arena;
    memcpy(job->request_id, sock->request_id, sizeof(job->request_id));
    return job;
}

enum gw_err gw_socket_submit(struct gw_socket *sock, struct gw_intake_job *job)
{
    size_t slot = 0;
    while (slot < JOBS_PER_SOCKET && sock->jobs[slot])
        slot++;
    enum gw_err err = GW_ERR_BUSY;
    if (slot < JOBS_PER_SOCKET) {
        job->owner = &sock->owner;
        job->submitted_at = gw_server_now();
        err = sock->srv->draining && !sock->in_close ? GW_ERR_SHUTTING_DOWN
                                                     : gw_intake_submit(sock->srv->intake, job);
    }
    if (err != GW_OK) {
        gw_arena_destroy(job->arena);
        return err;
    }
    sock->jobs[slot] = job;
    return GW_OK;
}

enum gw_err gw_socket_submit_operation(struct gw_socket *sock, const struct gw_operation *op,
                                       json_t *doc, int purpose)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct gw_intake_job *job = text ? gw_socket_new_job(sock) : NULL;
    if (job) {
        job->kind = GW_JOB_OPERATION;
        job->operation = op;
        job->purpose = purpose;
        job->document = gw_arena_strdup(job->arena, text);
    }
    free(text);
    if (!job || !job->document) {
        if (job)
            gw_arena_destroy(job->arena);
        return GW_ERR_NOMEM;
    }
    return gw_socket_submit(sock, job);
}

void socket_job_done(struct gw_server *srv, struct gw_intake_job *job)
{
    (void)srv;
    struct gw_socket *sock = (struct gw_socket *)job->owner;
    for (size_t i = 0; i < JOBS_PER_SOCKET; i++)
        if (sock->jobs[i] == job)
            sock->jobs[i] = NULL;
    const char *was = gw_log_set_request(sock->request_id);
    if (sock->entry->route->on_job_done)
        sock->entry->route->on_job_done(sock, sock->state, job);
    gw_log_set_request(was);
    gw_arena_destroy(job->arena);
}

void gw_socket_signal(struct gw_socket *sock, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text && sock->srv->announcer)
        gw_announcer_signal(sock->srv->announcer, text);
    free(text);
}

/* Signals go to the watching sockets as they are; they were never stored. */
static void dispatch_signals(struct gw_server *srv)
{
    struct socket_hub *hub = srv->hub;
    struct gw_signal batch[SIGNAL_BATCH];
    size_t n;
    do {
        n = gw_listener_take_signals(srv->listener, batch, SIGNAL_BATCH);
        for (size_t i = 0; i < n; i++)
            for (struct gw_socket *s = hub->buckets[bucket_of(batch[i].session)]; s;
                 s = s->next_watch)
                if (s->watched == batch[i].session && s->entry->route->on_session_signal) {
                    const char *was = gw_log_set_request(s->request_id);
                    s->entry->route->on_session_signal(s, s->state, batch[i].json);
                    gw_log_set_request(was);
                }
    } while (n == SIGNAL_BATCH);
}

void socket_hub_dispatch(struct gw_server *srv)
{
    struct socket_hub *hub = srv->hub;
    if (!hub || !srv->listener)
        return;
    dispatch_signals(srv);
    struct gw_notification batch[TAKE_BATCH];
    bool resync = false;
    size_t n;
    do {
        bool r = false;
        n = gw_listener_take(srv->listener, batch, TAKE_BATCH, &r);
        resync |= r;
        for (size_t i = 0; i < n; i++)
            for (struct gw_socket *s = hub->buckets[bucket_of(batch[i].session)]; s;
                 s = s->next_watch)
                if (s->watched == batch[i].session && s->entry->route->on_session_event) {
                    const char *was = gw_log_set_request(s->request_id);
                    s->entry->route->on_session_event(s, s->state, batch[i].seq);
                    gw_log_set_request(was);
                }
    } while (n == TAKE_BATCH);
    if (!resync)
        return;
    for (size_t b = 0; b < HUB_BUCKETS; b++)
        for (struct gw_socket *s = hub->buckets[b]; s; s = s->next_watch)
            if (s->entry->route->on_session_event)
                s->entry->route->on_session_event(s, s->state, 0);
}

static void release(struct gw_socket *sock)
{
    gw_socket_set_deadline(sock, 0);
    gw_socket_set_timer(sock, 0);
    unwatch(sock->srv->hub, sock);
    for (size_t i = 0; i < JOBS_PER_SOCKET; i++)
        if (sock->jobs[i]) {
            /* The worker still has it: its arena goes when the loop collects it. */
            sock->jobs[i]->owner = NULL;
            sock->jobs[i] = NULL;
        }
    while (sock->head) {
        struct frame *f = sock->head;
        sock->head = f->next;
        free(f);
    }
    sock->tail = NULL;
    sock->queued = 0;
    free(sock->partial);
    sock->partial = NULL;
}

static int close_now(struct gw_socket *sock, int code, const char *reason)
{
    lws_close_reason(sock->wsi, (enum lws_close_status)code, (unsigned char *)reason,
                     strlen(reason));
    return -1;
}

static int on_receive(struct gw_socket *sock, const void *in, size_t len)
{
    const struct gw_socket_route *route = sock->entry->route;
    bool first = lws_is_first_fragment(sock->wsi);
    bool final = lws_is_final_fragment(sock->wsi) && !lws_remaining_packet_payload(sock->wsi);
    if (first && final && !sock->partial) {
        if (len > route->max_message)
            return close_now(sock, GW_CLOSE_TOO_BIG, "message too large");
        route->on_message(sock, sock->state, in, len, lws_frame_is_binary(sock->wsi));
        return 0;
    }
    if (first && !sock->partial) {
        sock->partial_len = 0;
        sock->partial_binary = lws_frame_is_binary(sock->wsi);
    }
    if (sock->partial_len + len > route->max_message)
        return close_now(sock, GW_CLOSE_TOO_BIG, "message too large");
    if (!sock->partial) {
        sock->partial = malloc(route->max_message);
        if (!sock->partial)
            return close_now(sock, GW_CLOSE_TRY_AGAIN, "out of memory");
    }
    memcpy(sock->partial + sock->partial_len, in, len);
    sock->partial_len += len;
    if (final) {
        unsigned char *whole = sock->partial;
        size_t whole_len = sock->partial_len;
        sock->partial = NULL;
        sock->partial_len = 0;
        route->on_message(sock, sock->state, (const char *)whole, whole_len, sock->partial_binary);
        free(whole);
    }
    return 0;
}

static int on_writable(struct gw_socket *sock)
{
    struct frame *f = sock->head;
    if (f) {
        int w = lws_write(sock->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        sock->head = f->next;
        if (!sock->head)
            sock->tail = NULL;
        sock->queued -= f->len;
        free(f);
        if (w < 0)
            return -1;
        if (sock->head || sock->closing)
            lws_callback_on_writable(sock->wsi);
        return 0;
    }
    if (sock->closing)
        return close_now(sock, sock->close_code, sock->close_reason);
    return 0;
}

static int path_matches(struct lws *wsi, const char *path)
{
    char uri[256];
    int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    return n > 0 && !strcmp(uri, path);
}

/*
 * The session's request id: the handshake's X-Request-Id when it is safe,
 * else a new one; echoed in the handshake's answer (LWS_CALLBACK_ADD_HEADERS
 * comes before LWS_CALLBACK_ESTABLISHED, on the same session memory).
 */
static void take_request_id(struct gw_socket *sock, struct lws *wsi)
{
    if (sock->request_id[0])
        return;
    char given[GW_REQUEST_ID_SIZE];
    int n = lws_hdr_custom_copy(wsi, given, sizeof(given), "x-request-id:", 13);
    gw_request_id_take(n > 0 ? given : NULL, sock->request_id);
}

static int add_request_header(struct gw_socket *sock, struct lws *wsi,
                              struct lws_process_html_args *args)
{
    take_request_id(sock, wsi);
    return lws_add_http_header_by_name(
        wsi, (const unsigned char *)"X-Request-Id:", (const unsigned char *)sock->request_id,
        (int)strlen(sock->request_id), (unsigned char **)&args->p,
        (unsigned char *)args->p + args->max_len);
}

static int socket_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len);

/* Every line written for a session names its request id (the socket's memory is zeroed first). */
static int socket_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct gw_socket *sock = user;
    if (sock && reason == LWS_CALLBACK_ESTABLISHED)
        take_request_id(sock, wsi);
    const char *was = gw_log_set_request(sock ? sock->request_id : NULL);
    int rc = socket_event(wsi, reason, user, in, len);
    gw_log_set_request(was);
    return rc;
}

static int socket_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    struct gw_socket *sock = user;
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    const struct route_entry *entry = proto ? proto->user : NULL;
    struct gw_server *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        if (!entry || !path_matches(wsi, entry->route->path) || srv->draining)
            return 1;
        char client[64];
        gw_client_address(wsi, srv->cfg, client, sizeof(client));
        int retry = 0;
        return gw_ratelimit_allow(srv->limits, client, gw_server_now(), &retry) ? 0 : 1;
    }
    case LWS_CALLBACK_ADD_HEADERS:
        return sock && entry ? add_request_header(sock, wsi, in) : 0;
    case LWS_CALLBACK_ESTABLISHED:
        sock->owner.kind = OWNER_SOCKET;
        sock->wsi = wsi;
        sock->srv = srv;
        sock->entry = entry;
        gw_client_address(wsi, srv->cfg, sock->peer, sizeof(sock->peer));
        srv->metrics.sockets_open++;
        sock->in_open = true;
        if (entry->route->on_open)
            entry->route->on_open(sock, sock->state);
        sock->in_open = false;
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!sock || !sock->entry || sock->closing)
            return 0;
        srv->metrics.socket_messages++;
        return on_receive(sock, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return sock && sock->entry ? on_writable(sock) : 0;
    case LWS_CALLBACK_USER: /* socket_hub_close_all: the gateway is stopping */
        if (sock && sock->entry && !sock->closing)
            gw_socket_close(sock, GW_CLOSE_GOING_AWAY, "the gateway is shutting down");
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (sock && sock->entry) {
            sock->in_close = true;
            if (sock->entry->route->on_close)
                sock->entry->route->on_close(sock, sock->state);
            release(sock);
            sock->entry = NULL;
            srv->metrics.sockets_open--;
        }
        return 0;
    default:
        return 0;
    }
}

size_t socket_route_count(void)
{
    size_t n = 0;
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        n += (*c)->n_socket_routes;
    return n;
}

struct socket_hub *socket_hub_create(const struct gw_config *cfg)
{
    struct socket_hub *hub = calloc(1, sizeof(*hub));
    size_t n = socket_route_count();
    if (!hub || !(hub->routes = calloc(n ? n : 1, sizeof(*hub->routes)))) {
        free(hub);
        return NULL;
    }
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        for (size_t i = 0; i < (*c)->n_socket_routes; i++) {
            struct route_entry *e = &hub->routes[hub->n_routes++];
            e->route = &(*c)->socket_routes[i];
            e->shared = e->route->create_shared ? e->route->create_shared(cfg) : NULL;
        }
    return hub;
}

void socket_hub_destroy(struct socket_hub *hub)
{
    if (!hub)
        return;
    for (size_t i = 0; i < hub->n_routes; i++)
        if (hub->routes[i].route->destroy_shared)
            hub->routes[i].route->destroy_shared(hub->routes[i].shared);
    free(hub->routes);
    free(hub);
}

size_t socket_hub_protocols(struct socket_hub *hub, struct lws_protocols *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < hub->n_routes && n < cap; i++, n++) {
        memset(&out[n], 0, sizeof(out[n]));
        out[n].name = hub->routes[i].route->protocol;
        out[n].callback = socket_callback;
        out[n].per_session_data_size = sizeof(struct gw_socket) + hub->routes[i].route->state_size;
        out[n].user = &hub->routes[i];
    }
    return n;
}

void socket_hub_close_all(struct gw_server *srv)
{
    struct lws_vhost *vh = lws_get_vhost_by_name(srv->ctx, "default");
    for (size_t i = 0; srv->hub && vh && i < srv->hub->n_routes; i++) {
        const struct lws_protocols *p =
            lws_vhost_name_to_protocol(vh, srv->hub->routes[i].route->protocol);
        if (p)
            lws_callback_all_protocol(srv->ctx, p, LWS_CALLBACK_USER);
    }
}
