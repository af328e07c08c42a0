/* A socket's place in a live session's numbered events: see gw_replay.h. */
#include "gw_replay.h"

#include "gw_channel.h"
#include "gw_socket.h"

/* Live sessions are the core's: every socket route's sessions fetch their events through it. */
const struct gw_operation gw_op_session_events = {"gw_session_events", "intake_session_events"};

void gw_replay_fetch(struct gw_socket *sock, struct gw_replay *r)
{
    if (r->fetching) {
        r->fetch_again = true;
        return;
    }
    json_t *doc = json_pack("{s:I, s:I, s:i}", "session", (json_int_t)r->session, "after",
                            (json_int_t)r->last_sent, "limit", GW_REPLAY_FETCH_LIMIT);
    r->fetching = gw_socket_submit_operation(sock, &gw_op_session_events, doc, r->purpose) == GW_OK;
    if (!r->fetching)
        gw_socket_close(sock, GW_CLOSE_TRY_AGAIN, "the gateway is busy; reconnect shortly");
}

bool gw_replay_send(struct gw_socket *sock, struct gw_replay *r, json_t *answer)
{
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(answer, "events"), i, ev)
    {
        long long seq = (long long)json_integer_value(json_object_get(ev, "seq"));
        if (seq != r->last_sent + 1)
            continue; /* sent already (or a gap: fetched after) */
        r->emit(sock, ev);
        r->last_sent = seq;
    }
    return (long long)json_integer_value(json_object_get(answer, "last_seq")) > r->last_sent;
}

void gw_replay_start(struct gw_socket *sock, struct gw_replay *r, json_t *answer)
{
    if (r->last_sent > (long long)json_integer_value(json_object_get(answer, "last_seq")))
        r->last_sent = 0;
    if (gw_replay_send(sock, r, answer))
        gw_replay_fetch(sock, r);
}

void gw_replay_fetched(struct gw_socket *sock, struct gw_replay *r, json_t *answer)
{
    r->fetching = false;
    if (!answer) {
        r->fetch_again = false; /* the next notification or the client's reconnect catches up */
        return;
    }
    if (gw_replay_send(sock, r, answer) || r->fetch_again) {
        r->fetch_again = false;
        gw_replay_fetch(sock, r);
    }
}
