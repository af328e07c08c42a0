/*
 * Calls whose end never came (a lost hangup webhook, a crashed bridge) are
 * closed by the poller, one gateway at a time: a call still ringing becomes a
 * missed call (the caller is owed a callback; better one call too many than a
 * lost contact), an answered one an ended call. The closing is an ordinary
 * call event with a key of its own, so a real hangup that arrives meanwhile
 * wins and the sweep's event changes nothing.
 */
#include <string.h>

#include "gw_config.h"
#include "gw_log.h"
#include "gw_poll.h"
#include "phone.h"

#define SWEEP_LOCK       "phone-stale-calls"
#define SWEEP_BATCH      100
#define SWEEP_MAX_PERIOD 60
#define SWEEP_ROUNDS     10

/* One row of intake_stale_calls' answer; "" when absent. */
static const char *field(const json_t *call, const char *key)
{
    const char *v = json_string_value(json_object_get(call, key));
    return v ? v : "";
}

static enum gw_err close_call(struct gw_poll_ctx *ctx, const struct phone_settings *s,
                              const json_t *sc)
{
    struct gw_arena *arena = gw_arena_create(4096);
    if (!arena)
        return GW_ERR_NOMEM;
    const char *provider = field(sc, "provider"), *call_id = field(sc, "call_id");
    const char *state = field(sc, "state"), *from = field(sc, "from"), *to = field(sc, "to");
    struct phone_event ev = {
        .call = {.provider = provider,
                 .call_id = call_id,
                 .kind = !strcmp(state, "answered") ? "ended" : "missed",
                 .direction = field(sc, "direction"),
                 .cause = "stale",
                 .duration_s = -1},
        .from_raw = from[0] ? from : NULL,
        .to_raw = to[0] ? to : NULL,
        .call_id_field = "call_id",
    };
    ev.event_key = gw_arena_printf(arena, "stale:%s:%s", provider, call_id);
    struct gw_intake_job job = {.kind = GW_JOB_REGISTER, .arena = arena};
    struct gw_http_reply reply = {0};
    enum gw_err err = GW_ERR_NOMEM;
    if (ev.event_key && phone_contact_build(s, arena, &ev, &job.contact, &reply) == GW_OK)
        err = gw_poll_register(ctx, &job);
    const char *now = err == GW_OK ? phone_call_state(&job.result, arena) : NULL;
    if (err == GW_OK && job.result.err == GW_OK)
        gw_log_event(GW_LOG_INFO, "phone.stale_closed",
                     GW_FIELDS(GW_STR("state", state), GW_STR("now", now),
                               GW_STR("ticket", job.result.ticket[0] ? job.result.ticket : NULL)),
                     "phone: closed stale %s call as %s%s%s", state, now ? now : "",
                     job.result.ticket[0] ? ", ticket " : "", job.result.ticket);
    gw_arena_destroy(arena);
    return err;
}

int phone_poll_stale(struct gw_poll_ctx *ctx)
{
    struct phone_settings s;
    phone_settings_read(gw_poll_config(ctx), &s);
    int period = s.stale_after_s / 2 < SWEEP_MAX_PERIOD ? s.stale_after_s / 2 : SWEEP_MAX_PERIOD;
    if (period < 1)
        period = 1;
    if (!gw_poll_try_lock(ctx, SWEEP_LOCK))
        return period;
    /* A bounded number of rounds: a call that cannot be closed must not hold the thread. */
    size_t n = SWEEP_BATCH;
    for (int round = 0; round < SWEEP_ROUNDS && n == SWEEP_BATCH && !gw_poll_stopping(ctx);
         round++) {
        json_t *query =
            json_pack("{s:i, s:i}", "older_than_s", s.stale_after_s, "limit", SWEEP_BATCH);
        json_t *answer = NULL;
        if (gw_poll_run(ctx, &phone_operations[PHONE_OP_STALE_CALLS], query, &answer) != GW_OK)
            break;
        json_t *calls = json_object_get(answer, "calls");
        n = json_array_size(calls);
        for (size_t i = 0; i < n && !gw_poll_stopping(ctx); i++)
            if (close_call(ctx, &s, json_array_get(calls, i)) == GW_ERR_DB_UNAVAILABLE)
                n = 0;
        json_decref(answer);
    }
    gw_poll_unlock(ctx, SWEEP_LOCK);
    return period;
}
