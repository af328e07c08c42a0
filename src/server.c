/*
 * The server's loop and lifecycle: the lws context and its listening socket,
 * the intake workers and the session listener/announcer it starts, the loop
 * turned until SIGTERM or SIGINT, then the drain (requests already read get
 * their answer, sockets are closed with "going away") and the stop. What one
 * request goes through is http_request.c; WebSockets are socket_server.c.
 * The listen address is tried before lws is given it: lws says of a port in
 * use only that it could not create a context.
 *
 * lws runs on a libev loop (epoll) through lws's libev plugin, a loop we own
 * and turn ourselves: lws's default loop calls poll() over every open socket
 * on each wake-up, which at 10,000 chat sockets costs more than the work the
 * wake-up was for (bench/README.md, "Chat sessions"). lws 4.1's lws_service()
 * on an event library runs the loop until it is stopped, so the loop is
 * "foreign" and we run it one iteration at a time. Without the plugin the
 * context falls back to lws's poll() loop.
 *
 * With tls.cert_file the same port speaks only HTTPS and WSS (server_tls.c);
 * SIGHUP reloads the certificate between two turns of the loop.
 */
#include "gw_server.h"

#include <ctype.h>
#include <errno.h>
#include <ev.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw_announcer.h"
#include "gw_config.h"
#include "gw_intake.h"
#include "gw_log.h"
#include "gw_listener.h"
#include "gw_ratelimit.h"
#include "gw_tls.h"
#include "server_private.h"

static volatile sig_atomic_t stop_requested, reload_requested;
static struct lws_context *volatile signal_context;

double gw_server_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The first protocol's callback: lws asks it to finish the vhost's TLS
 * context (with the SSL_CTX as user) while the context is created; the rest
 * is the HTTP front's.
 */
static int first_protocol(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) {
        struct gw_server *srv = lws_context_user(lws_get_context(wsi));
        return srv->tls ? gw_server_tls_setup(srv->tls, user) : 0;
    }
    return gw_http_protocol.callback(wsi, reason, user, in, len);
}

/* "http" first (plain requests bind to it), then the channels' socket routes, then the end. */
static struct lws_protocols *make_protocols(struct socket_hub *hub)
{
    size_t n = socket_route_count();
    struct lws_protocols *p = calloc(n + 2, sizeof(*p));
    if (!p)
        return NULL;
    p[0] = gw_http_protocol;
    p[0].callback = first_protocol;
    socket_hub_protocols(hub, p + 1, n);
    return p;
}

static void wake_loop(void *user)
{
    lws_cancel_service(user);
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
    if (signal_context)
        lws_cancel_service(signal_context);
}

/* On a libev loop of ours when lws's libev plugin loads, else on lws's poll() loop. */
static struct lws_context *create_context(struct gw_server *srv,
                                          struct lws_context_creation_info *info)
{
    struct lws_context_creation_info with_ev = *info;
    void *loops[1] = {ev_loop_new(EVBACKEND_EPOLL)};
    if (loops[0]) {
        with_ev.options |= LWS_SERVER_OPTION_LIBEV;
        with_ev.foreign_loops = loops;
        struct lws_context *ctx = lws_create_context(&with_ev);
        if (ctx) {
            srv->loop = loops[0];
            return ctx;
        }
        ev_loop_destroy(loops[0]);
    }
    /* Said only when poll() works: a context that fails both ways is no missing plugin. */
    struct lws_context *ctx = lws_create_context(info);
    if (ctx)
        gw_warn("server: no libev event loop (libwebsockets-evlib-ev); serving with poll()");
    return ctx;
}

/*
 * Binds the listen address as lws is about to (SO_REUSEADDR, IPv4 unless the
 * host is IPv6) and lets it go again; returns 0 or the bind's errno. lws
 * reports a port in use only as a context it could not create, so we ask
 * first. A host that does not resolve is left to lws (it may name an
 * interface).
 */
static int listen_errno(const struct gw_config *cfg)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    hints.ai_family = strchr(cfg->listen_host, ':') ? AF_UNSPEC : AF_INET;
    char port[8];
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    struct addrinfo *ai = NULL;
    if (getaddrinfo(strcmp(cfg->listen_host, "*") ? cfg->listen_host : NULL, port, &hints, &ai))
        return 0;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), on = 1, err = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        err = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return err;
}

static void say_cannot_listen(const struct gw_config *cfg, int err)
{
    char why[128] = "libwebsockets could not create its context";
    if (err) {
        snprintf(why, sizeof(why), "%s", strerror(err));
        why[0] = (char)tolower((unsigned char)why[0]); /* "address already in use" */
    }
    gw_log_event(GW_LOG_ERROR, "server.cannot_listen",
                 GW_FIELDS(GW_STR("host", cfg->listen_host), GW_INT("port", cfg->listen_port),
                           GW_STR("reason", why)),
                 "server: cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port, why);
}

/* One turn of the loop: returns when something was served (a signal wakes it too). */
static int service_once(struct gw_server *srv)
{
    if (srv->loop) {
        ev_run(srv->loop, EVRUN_ONCE);
        return 0;
    }
    return lws_service(srv->ctx, 0);
}

enum gw_err gw_server_create(const struct gw_config *cfg, struct gw_server **out)
{
    struct gw_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return GW_ERR_NOMEM;
    srv->cfg = cfg;
    srv->hub = socket_hub_create(cfg);
    srv->protocols = srv->hub ? make_protocols(srv->hub) : NULL;
    if (!srv->protocols) {
        socket_hub_destroy(srv->hub);
        free(srv);
        return GW_ERR_NOMEM;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, gw_log_lws);
    /*
     * An idle WebSocket is pinged after half the idle time and closed when
     * no pong (or other traffic) has come by the end of it.
     */
    static lws_retry_bo_t idle_policy;
    idle_policy.secs_since_valid_ping = (uint16_t)(cfg->socket_idle_s / 2);
    idle_policy.secs_since_valid_hangup = (uint16_t)cfg->socket_idle_s;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->listen_port;
    info.iface = strcmp(cfg->listen_host, "*") ? cfg->listen_host : NULL;
    info.protocols = srv->protocols;
    info.user = srv;
    info.keepalive_timeout = 60;
    info.timeout_secs = 30;
    info.retry_and_idle_policy = &idle_policy;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 * !strchr(cfg->listen_host, ':');
    enum gw_err tls_err = gw_server_tls_create(cfg, &info, &srv->tls);
    int err = tls_err == GW_OK ? listen_errno(cfg) : 0;
    srv->ctx = err || tls_err != GW_OK ? NULL : create_context(srv, &info);
    if (!srv->ctx) {
        /* Asked again when lws failed: another process may have taken the port since. */
        if (tls_err == GW_OK)
            say_cannot_listen(cfg, err ? err : listen_errno(cfg));
        gw_server_tls_destroy(srv->tls);
        socket_hub_destroy(srv->hub);
        free(srv->protocols);
        free(srv);
        return tls_err != GW_OK ? tls_err : GW_ERR_IO;
    }
    srv->limits =
        gw_ratelimit_create(cfg->rate_per_client, cfg->rate_burst, cfg->auth_failures_per_min);
    if (!srv->limits || gw_intake_create(cfg, wake_loop, srv->ctx, &srv->intake) != GW_OK ||
        (socket_route_count() &&
         (gw_listener_start(cfg->database_url, GW_SESSION_CHANNEL, wake_loop, srv->ctx,
                            &srv->listener) != GW_OK ||
          gw_announcer_start(cfg->database_url, GW_SESSION_CHANNEL, &srv->announcer) != GW_OK))) {
        if (srv->intake)
            gw_intake_destroy(srv->intake);
        gw_listener_stop(srv->listener);
        gw_ratelimit_destroy(srv->limits);
        lws_context_destroy(srv->ctx);
        if (srv->idle_pipe > 0)
            close(srv->idle_pipe);
        if (srv->loop)
            ev_loop_destroy(srv->loop);
        gw_server_tls_destroy(srv->tls);
        socket_hub_destroy(srv->hub);
        free(srv->protocols);
        free(srv);
        return GW_ERR_NOMEM;
    }
    gw_intake_set_announcer(srv->intake, srv->announcer);
    *out = srv;
    return GW_OK;
}

struct gw_intake *gw_server_intake(struct gw_server *srv)
{
    return srv->intake;
}

void gw_server_set_spool(struct gw_server *srv, struct gw_spool *spool)
{
    srv->spool = spool;
    gw_intake_set_spool(srv->intake, spool);
}

static void install_signals(struct lws_context *ctx)
{
    signal_context = ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void drain_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* only here to wake lws_service while draining */
}

static void drain_ev_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents; /* likewise, for the libev loop */
}

/*
 * lws's timers on our libev loop (a wsi's timeout, the idle policy's ping and
 * hang-up) fire only when lws services its timer list, which its libev glue
 * does after socket events and at its own wake-ups, up to 30 s apart (it
 * re-arms its one timer with ev_timer_set while that is active, which libev
 * does not allow). With limits.socket_idle_seconds at 4, a dead client was
 * pinged after 28 s and dropped after 30. Waking lws's event pipe makes it
 * service the list now; four times a second is precise enough for timeouts
 * of seconds and costs nothing.
 */
#define LWS_TIMER_TICK_S 0.25

/* How long a drained gateway still answers open keep-alive connections before it exits. */
#define DRAIN_LINGER_S 0.5

static void lws_timer_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    lws_cancel_service(w->data);
}

/*
 * Stop accepting first: a connection attempt from now on is refused at once
 * (a load balancer or client goes to another gateway) instead of waiting in
 * the listen backlog until the process exits and being reset. Connections
 * already open stay, and get 503 + Connection: close for anything new
 * (http_request.c). lws 4.1 has no call that closes only its listening
 * socket (lws_context_deprecate frees the socket's wsi and then writes to
 * it), so the socket is closed under lws: the listening fd is found by its
 * port, and an idle pipe takes its number with dup2. The kernel then closes
 * the listening socket (its last reference) and drops it from the event
 * loop's epoll set, and lws's listening wsi watches a pipe that never speaks
 * until lws closes it at the end.
 */
static void stop_accepting(struct gw_server *srv)
{
    int p[2];
    if (pipe(p) != 0) {
        gw_warn("server: cannot stop accepting before the drain: %s", strerror(errno));
        return;
    }
    for (int fd = 0; fd < 4096; fd++) {
        int listening = 0;
        socklen_t len = sizeof(listening);
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening ||
            getsockname(fd, (struct sockaddr *)&addr, &alen) != 0)
            continue;
        int port = addr.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&addr)->sin_port)
                   : addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                                : -1;
        if (port == srv->cfg->listen_port && dup2(p[0], fd) < 0)
            gw_warn("server: cannot close the listening socket: %s", strerror(errno));
    }
    close(p[0]);
    /* The write end stays open (and is dropped at exit): the pipe must never report a hang-up. */
    srv->idle_pipe = p[1];
}

void gw_server_run(struct gw_server *srv, int drain_s)
{
    install_signals(srv->ctx);
    gw_log_event(GW_LOG_INFO, "server.listening",
                 GW_FIELDS(GW_STR("host", srv->cfg->listen_host),
                           GW_INT("port", srv->cfg->listen_port),
                           GW_STR("scheme", srv->tls ? "https" : "http")),
                 "server: listening on %s:%d (%s)", srv->cfg->listen_host, srv->cfg->listen_port,
                 srv->tls ? "https" : "http");
    ev_timer lws_timers;
    ev_timer_init(&lws_timers, lws_timer_tick, LWS_TIMER_TICK_S, LWS_TIMER_TICK_S);
    lws_timers.data = srv->ctx;
    if (srv->loop)
        ev_timer_start(srv->loop, &lws_timers);
    while (!stop_requested) {
        if (service_once(srv) < 0)
            break;
        if (reload_requested) {
            reload_requested = 0;
            gw_server_tls_reload(srv->tls);
        }
    }
    /*
     * Draining: requests already read get their answer; new contacts are told
     * 503 + Retry-After. Stop when nothing is open or the time is up.
     */
    srv->draining = 1;
    stop_accepting(srv);
    gw_log_event(GW_LOG_INFO, "server.draining",
                 GW_FIELDS(GW_INT("requests", srv->open_requests),
                           GW_INT("sockets", srv->metrics.sockets_open)),
                 "server: stopped accepting; draining %zu open requests, %llu sockets",
                 srv->open_requests, (unsigned long long)srv->metrics.sockets_open);
    socket_hub_close_all(srv);
    double deadline = gw_server_now() + drain_s;
    lws_sorted_usec_list_t tick;
    memset(&tick, 0, sizeof(tick));
    /* An lws timer set while the libev loop sleeps is not seen: a libev one there. */
    ev_timer ev_tick;
    ev_timer_init(&ev_tick, drain_ev_tick, 0.05, 0.05);
    if (srv->loop)
        ev_timer_start(srv->loop, &ev_tick);
    /*
     * Drained: nothing open, nothing in the workers' hands, and then a short
     * while more, so that a request a client sent on a keep-alive connection
     * just before it saw us go is read and answered (503, Connection: close)
     * rather than left unread until the exit resets it.
     */
    double drained_at = 0;
    for (;;) {
        double now = gw_server_now();
        bool busy = srv->open_requests > 0 || srv->metrics.sockets_open > 0 ||
                    gw_intake_in_flight(srv->intake) > 0;
        if (busy)
            drained_at = 0;
        else if (!drained_at)
            drained_at = now;
        if (now >= deadline || (drained_at && now - drained_at >= DRAIN_LINGER_S))
            break;
        if (!srv->loop)
            lws_sul_schedule(srv->ctx, 0, &tick, drain_tick, 50 * LWS_US_PER_MS);
        if (service_once(srv) < 0)
            break;
    }
    if (srv->loop) {
        ev_timer_stop(srv->loop, &ev_tick);
        ev_timer_stop(srv->loop, &lws_timers);
    } else
        lws_sul_cancel(&tick);
    gw_log_event(GW_LOG_INFO, "server.stopped",
                 GW_FIELDS(GW_INT("requests_left", srv->open_requests)),
                 "server: stopped (%zu requests left open)", srv->open_requests);
}

void gw_server_destroy(struct gw_server *srv)
{
    if (!srv)
        return;
    /*
     * Order matters: workers finish and stop while the loop can still be
     * woken; closing the context then orphans every job still waiting for its
     * session; collecting afterwards frees those jobs' arenas.
     */
    gw_listener_stop(srv->listener); /* it wakes the loop: stop it while the loop exists */
    gw_intake_stop(srv->intake);
    gw_announcer_stop(srv->announcer); /* after the workers, who post to it */
    srv->closing = 1;
    signal_context = NULL;
    lws_context_destroy(srv->ctx);
    gw_server_tls_destroy(srv->tls); /* after the context: its handshakes use the pair */
    if (srv->idle_pipe > 0)
        close(srv->idle_pipe);
    if (srv->loop)
        ev_loop_destroy(srv->loop);
    gw_intake_collect(srv->intake, gw_http_job_done, srv);
    gw_intake_destroy(srv->intake);
    gw_ratelimit_destroy(srv->limits);
    socket_hub_destroy(srv->hub);
    free(srv->protocols);
    free(srv);
}
