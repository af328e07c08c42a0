/*
 * PostgreSQL notifications for the event loop: a thread with its own
 * connection LISTENs on one channel and queues what arrives ("<session>
 * <seq>" payloads, or many such pairs in one: "<session> <seq> <session>
 * <seq> ..."), then wakes the loop, which takes the queue. After a lost
 * connection (notifications sent meanwhile are gone) or an overflowing
 * queue, the next take says "resync": every watcher should look for itself.
 * Signals ("<session> {json}", see gw_announcer_signal) queue apart; they
 * are not stored anywhere, so one that overflows is simply gone.
 */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_announcer.h"
#include "gw_error.h"

struct gw_listener;

struct gw_notification {
    long long session;
    long long seq;
};

struct gw_signal {
    long long session;
    char json[GW_SIGNAL_MAX + 1];
};

GW_MUST_USE enum gw_err gw_listener_start(const char *database_url, const char *channel,
                                          void (*wake)(void *), void *wake_user,
                                          struct gw_listener **out);
/* Moves up to cap queued notifications to out; returns how many. */
size_t gw_listener_take(struct gw_listener *l, struct gw_notification *out, size_t cap,
                        bool *resync);
/* Moves up to cap queued signals to out; returns how many. */
size_t gw_listener_take_signals(struct gw_listener *l, struct gw_signal *out, size_t cap);
void gw_listener_stop(struct gw_listener *l);

#endif
