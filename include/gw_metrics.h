/*
 * Counters for /metrics (Prometheus text format). Updated and read only on
 * the event loop thread, so they need no atomics.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

#include "gw_arena.h"
#include "gw_intake.h"

struct gw_metrics {
    uint64_t registered; /* contacts committed */
    uint64_t duplicates; /* idempotent repeats answered from the database */
    uint64_t new_tickets;
    uint64_t failed;          /* registration failed: db down, busy, rejected by db */
    uint64_t rejected;        /* refused by a channel before registration */
    uint64_t responses[6];    /* by status class: [2] = 2xx ... [5] = 5xx */
    uint64_t sockets_open;    /* WebSockets open now */
    uint64_t socket_messages; /* WebSocket message fragments received */
};

void gw_metrics_count_result(struct gw_metrics *m, const struct gw_intake_job *job);
/* Arena-owned text, NULL when out of memory. */
char *gw_metrics_render(const struct gw_metrics *m, struct gw_arena *arena, size_t in_flight);

#endif
