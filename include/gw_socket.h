/*
 * WebSocket endpoints for channels. A channel lists socket routes (a path
 * and the subprotocol its clients ask for); the core accepts the sockets on
 * the HTTP event loop, reads whole messages (up to the route's limit) and
 * calls the route's hooks, always on the loop thread. Hooks never block:
 * database work goes to the intake workers through gw_socket_submit and
 * comes back in on_job_done. A socket that watches a live session is told of
 * every new event of that session, whichever gateway process stored it
 * (PostgreSQL NOTIFY), through on_session_event.
 */
#ifndef GW_SOCKET_H
#define GW_SOCKET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_arena.h"
#include "gw_error.h"
#include "gw_job.h"

struct gw_config;
struct gw_socket;

/* Close codes (RFC 6455, 7.4.1). */
enum {
    GW_CLOSE_NORMAL = 1000,
    GW_CLOSE_GOING_AWAY = 1001,
    GW_CLOSE_PROTOCOL = 1002,
    GW_CLOSE_UNSUPPORTED = 1003,
    GW_CLOSE_INVALID_DATA = 1007,
    GW_CLOSE_POLICY = 1008,
    GW_CLOSE_TOO_BIG = 1009,
    /*
     * "Try again later": 1011 (unexpected condition), not 1013, which came
     * after RFC 6455 and which libwebsockets' own client refuses as invalid.
     */
    GW_CLOSE_TRY_AGAIN = 1011,
};

struct gw_socket_route {
    const char *path;     /* e.g. "/v1/chat" */
    const char *protocol; /* the subprotocol clients name in Sec-WebSocket-Protocol */
    size_t state_size;    /* the route's state per socket, zeroed before on_open */
    /* The most bytes one message may have; longer ones close the socket (1009). */
    size_t max_message;
    /* Once per server: process-wide state of the route (settings, limits); NULL: none. */
    void *(*create_shared)(const struct gw_config *cfg);
    void (*destroy_shared)(void *shared);
    /* The socket is open; the handshake's headers can still be read. */
    void (*on_open)(struct gw_socket *sock, void *state);
    /* One whole message; binary tells a binary from a text message. */
    void (*on_message)(struct gw_socket *sock, void *state, const char *data, size_t len,
                       bool binary);
    /* A job this socket submitted finished; the job and its arena are freed after. */
    void (*on_job_done)(struct gw_socket *sock, void *state, struct gw_intake_job *job);
    /* The watched session has an event numbered seq (or, when seq is 0, may have missed some). */
    void (*on_session_event)(struct gw_socket *sock, void *state, long long seq);
    /* The watched session got a signal (gw_socket_signal): a JSON object, not stored. */
    void (*on_session_signal)(struct gw_socket *sock, void *state, const char *json);
    /* gw_socket_set_timer's time came (not once the socket is closing). */
    void (*on_timer)(struct gw_socket *sock, void *state);
    /*
     * The socket is gone; no hook is called for it again. It may still
     * submit one last job (even while the gateway drains); its result is
     * dropped.
     */
    void (*on_close)(struct gw_socket *sock, void *state);
};

/* Queues one text message; false when the socket's send queue is full (it is then closed). */
bool gw_socket_send(struct gw_socket *sock, const char *text, size_t len);
/* Sends a close frame with a code and a reason (at most 120 bytes) once the queue is empty. */
void gw_socket_close(struct gw_socket *sock, int code, const char *reason);
/*
 * A new job with its own arena (freed after on_job_done), for the caller to
 * fill and submit; NULL when out of memory.
 */
struct gw_intake_job *gw_socket_new_job(struct gw_socket *sock);
/* Hands the job to the intake workers; not GW_OK: not submitted (the job was freed). */
GW_MUST_USE enum gw_err gw_socket_submit(struct gw_socket *sock, struct gw_intake_job *job);
/*
 * Submits the database operation op with doc (stolen) as its input, tagged
 * with purpose (job->purpose in on_job_done). Not GW_OK: nothing submitted.
 */
GW_MUST_USE enum gw_err gw_socket_submit_operation(struct gw_socket *sock,
                                                   const struct gw_operation *op, json_t *doc,
                                                   int purpose);
/*
 * Sends doc (a JSON object, stolen) to the database's signal routing
 * (intake_session_signals), which notifies the sessions it concerns on every
 * gateway; their sockets get on_session_signal. Not stored, not numbered, at
 * most GW_SIGNAL_MAX bytes, and dropped rather than delayed: for what is
 * only true for a moment, such as someone typing.
 */
void gw_socket_signal(struct gw_socket *sock, json_t *doc);
/* Tells this socket of the session's new events from now on (0: none). */
void gw_socket_watch(struct gw_socket *sock, long long session);
/* The route's shared state (create_shared's result). */
void *gw_socket_shared(struct gw_socket *sock);
const struct gw_config *gw_socket_config(struct gw_socket *sock);
/* The client's address, as text. */
const char *gw_socket_peer(struct gw_socket *sock);
/* A request header of the handshake by lower-case name (during on_open only), in arena. */
const char *gw_socket_header(struct gw_socket *sock, const char *name, struct gw_arena *arena);
/* Closes the socket (1008, "timed out") in secs unless called again first; 0 cancels. */
void gw_socket_set_deadline(struct gw_socket *sock, int secs);
/* Calls on_timer once in secs (again only when set again); 0 cancels. */
void gw_socket_set_timer(struct gw_socket *sock, int secs);
/* Monotonic seconds, for rate limits. */
double gw_socket_now(void);

#endif
