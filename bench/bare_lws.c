/*
 * The baseline for the gateway's /healthz: the least a libwebsockets 4.1 HTTP
 * server does to answer GET /healthz with 200 {"status":"ok"}, a
 * content-length and keep-alive. It uses the same context options as
 * src/server.c (loopback, keepalive_timeout 60, timeout_secs 30, no IPv6) so
 * that bench/run's two /healthz figures differ only by what the gateway does
 * per request (routing, arena, reply building, metrics). Headers go out from
 * the HTTP callback, the body from the next writable callback, as in the lws
 * minimal examples. It also echoes WebSocket messages (the chat baseline,
 * below). Like the gateway, it runs lws on a libev loop (epoll) unless told
 * --poll (lws's own poll() loop). Usage: bare-lws PORT [--poll]
 */
#include <ev.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char health_body[] = "{\"status\":\"ok\"}";

static volatile sig_atomic_t stop_requested;
static struct lws_context *volatile signal_context;

struct session {
    int status; /* 0 until a request was read: nothing to write */
};

static int send_headers(struct lws *wsi, struct session *s, int status)
{
    unsigned char buf[LWS_PRE + 512];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    size_t len = status == 200 ? sizeof(health_body) - 1 : 0;
    if (lws_add_http_common_headers(wsi, (unsigned)status, "application/json", len, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    s->status = status;
    if (status != 200) /* GET elsewhere keeps the connection; anything else may have a body */
        return !lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) || lws_http_transaction_completed(wsi)
                   ? -1
                   : 0;
    lws_callback_on_writable(wsi);
    return 0;
}

static int send_body(struct lws *wsi, struct session *s)
{
    unsigned char buf[LWS_PRE + sizeof(health_body)];
    size_t n = sizeof(health_body) - 1;
    if (s->status != 200)
        return 0;
    s->status = 0;
    memcpy(buf + LWS_PRE, health_body, n);
    if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) != (int)n)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct session *s = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
        return send_headers(wsi, s, is_get && !strcmp(in, "/healthz") ? 200 : 404);
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return send_body(wsi, s);
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/*
 * The chat baseline (bench/chat-run): the same subprotocol name as the chat,
 * echoing every message back. One message in flight per socket, as the load
 * client sends: the least memory and time a WebSocket costs in lws.
 */
struct echo {
    unsigned char buf[LWS_PRE + 1024];
    size_t len;
};

static int echo_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct echo *e = user;
    switch (reason) {
    case LWS_CALLBACK_RECEIVE:
        if (len > sizeof(e->buf) - LWS_PRE)
            return -1;
        memcpy(e->buf + LWS_PRE, in, len);
        e->len = len;
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (e->len && lws_write(wsi, e->buf + LWS_PRE, e->len, LWS_WRITE_TEXT) < 0)
            return -1;
        e->len = 0;
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(struct session), 0, 0, NULL, 0},
    {"intake-chat.v1", echo_callback, sizeof(struct echo), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (signal_context)
        lws_cancel_service(signal_context);
}

int main(int argc, char **argv)
{
    int port = argc >= 2 ? atoi(argv[1]) : 0;
    int use_poll = argc == 3 && !strcmp(argv[2], "--poll");
    if (port <= 0 || port > 65535 || argc > 3 || (argc == 3 && !use_poll)) {
        fprintf(stderr, "usage: bare-lws PORT [--poll]\n");
        return 2;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = port;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.keepalive_timeout = 60;
    info.timeout_secs = 30;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    struct ev_loop *loop = use_poll ? NULL : ev_loop_new(EVBACKEND_EPOLL);
    void *foreign[1] = {loop};
    if (loop) {
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = foreign;
    }
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "bare-lws: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    signal_context = ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stop_requested)
        if (loop)
            ev_run(loop, EVRUN_ONCE);
        else if (lws_service(ctx, 0) < 0)
            break;
    signal_context = NULL;
    lws_context_destroy(ctx);
    if (loop)
        ev_loop_destroy(loop);
    return 0;
}
