/*
 * A socket's place in a live session's numbered events (the chat's
 * conversation, an agent's stream). Events go out in number order, each once
 * per socket: last_sent is the last number this socket has sent, and an
 * event that does not continue it is skipped (sent already) or waits for a
 * fetch (a gap). One fetch is under way at a time; a notification that comes
 * meanwhile asks for another when it returns. Loop thread only.
 */
#ifndef GW_REPLAY_H
#define GW_REPLAY_H

#include <jansson.h>
#include <stdbool.h>

struct gw_operation;
struct gw_socket;

/* Events fetched at a time; more follow as each batch is sent. */
#define GW_REPLAY_FETCH_LIMIT 200

/*
 * The core's operation that answers a session's events after a number
 * (intake_session_events: {"session" or "token_hash", "after", "limit"}),
 * the one every fetch runs; a route may run it too (to resume a session by
 * its token).
 */
extern const struct gw_operation gw_op_session_events;

struct gw_replay {
    long long session;   /* live_sessions.id */
    long long last_sent; /* the last event number sent to the socket */
    bool fetching;       /* a fetch is on its way */
    bool fetch_again;    /* and another is due when it returns */
    int purpose;         /* the job purpose a fetch is tagged with (on_job_done) */
    /* Sends one event (borrowed) to the socket, in the route's own wording. */
    void (*emit)(struct gw_socket *sock, json_t *event);
};

/* Asks the database for the events after last_sent (or notes that it must, once the fetch under way
 * returns). */
void gw_replay_fetch(struct gw_socket *sock, struct gw_replay *r);

/* Sends the answer's events that continue last_sent; says whether the session stores more. */
bool gw_replay_send(struct gw_socket *sock, struct gw_replay *r, json_t *answer);

/*
 * The session's first answer on this socket (its welcome): a client that
 * counts past the log (the log was reset) starts again from 0; what the
 * answer carries is sent, and the rest fetched.
 */
void gw_replay_start(struct gw_socket *sock, struct gw_replay *r, json_t *answer);

/* A fetch came back: answer is NULL when it failed (the next notification or reconnect catches up).
 */
void gw_replay_fetched(struct gw_socket *sock, struct gw_replay *r, json_t *answer);

#endif
