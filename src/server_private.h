/*
 * What the server's loop (server.c), its HTTP request path (http_request.c)
 * and its WebSocket host (socket_server.c) share: the server itself, and the
 * tag at the start of whatever owns an intake job, so the loop knows whom to
 * hand a finished job back to.
 */
#ifndef GW_SERVER_PRIVATE_H
#define GW_SERVER_PRIVATE_H

#include <libwebsockets.h>
#include <stddef.h>

#include "gw_intake.h"
#include "gw_metrics.h"
#include "gw_ratelimit.h"

/* The NOTIFY channel of live-session events (db/0004_live_sessions.sql). */
#define GW_SESSION_CHANNEL "intake_session"

struct gw_config;
struct gw_listener;
struct socket_hub;

struct gw_server {
    const struct gw_config *cfg;
    struct lws_context *ctx;
    struct ev_loop *loop; /* libev (epoll) that lws runs on; NULL: lws's own poll() loop */
    struct gw_intake *intake;
    struct gw_metrics metrics;
    struct gw_ratelimit *limits;
    struct lws_protocols *protocols; /* http first, then one per socket route */
    struct socket_hub *hub;
    struct gw_listener *listener;   /* session notifications; NULL without socket routes */
    struct gw_announcer *announcer; /* sends them after commits; NULL likewise */
    struct gw_server_tls *tls;      /* the certificate served; NULL: plain HTTP */
    int draining;
    int idle_pipe; /* write end of the pipe that replaced the listening socket (stop_accepting) */
    int closing;   /* the context is being destroyed: collect no jobs from callbacks */
    size_t open_requests; /* between request line and last byte of the reply */
};

/* First member of every job owner. */
enum job_owner_kind { OWNER_HTTP, OWNER_SOCKET };
struct job_owner {
    enum job_owner_kind kind;
};

double gw_server_now(void);

/* http_request.c */
/* The "http" protocol row: plain requests, and the loop's wake-ups (lws_cancel_service). */
extern const struct lws_protocols gw_http_protocol;
/*
 * A finished job handed back on the loop (a gw_intake_done_fn; user is the
 * server): to its HTTP session, to its socket, or freed when its requester left.
 */
void gw_http_job_done(struct gw_intake_job *job, void *user);

/* socket_server.c */
struct socket_hub *socket_hub_create(const struct gw_config *cfg);
void socket_hub_destroy(struct socket_hub *hub);
/* Fills protocols[0..n) with one entry per socket route; returns n. */
size_t socket_hub_protocols(struct socket_hub *hub, struct lws_protocols *out, size_t cap);
/* Socket routes of all channels (for sizing the protocol table). */
size_t socket_route_count(void);
/* A finished job whose owner is a socket. */
void socket_job_done(struct gw_server *srv, struct gw_intake_job *job);
/* Notifications the listener has queued, handed to the watching sockets. */
void socket_hub_dispatch(struct gw_server *srv);
/*
 * Closes every socket with 1001 "going away" (draining), so that each
 * route's on_close runs while the intake still takes its last jobs.
 */
void socket_hub_close_all(struct gw_server *srv);

#endif
