/*
 * Counters for /metrics (Prometheus text format). Updated and read only on
 * the event loop thread, so they need no atomics.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

#include "gw_arena.h"
#include "gw_intake.h"

/*
 * Upper bounds (seconds) of the registration-time histogram's buckets: from
 * a contact's hand-over to the database workers until its answer (the
 * commit) is back on the event loop, the part of an acknowledgement that
 * waits for the database.
 */
#define GW_METRICS_REGISTRATION_BUCKETS 12
extern const double gw_metrics_registration_le[GW_METRICS_REGISTRATION_BUCKETS];

struct gw_metrics {
    uint64_t registered; /* contacts committed */
    uint64_t duplicates; /* idempotent repeats answered from the database */
    uint64_t new_tickets;
    uint64_t failed;          /* registration failed: db down, busy, rejected by db */
    uint64_t rejected;        /* refused by a channel before registration */
    uint64_t responses[6];    /* by status class: [2] = 2xx ... [5] = 5xx */
    uint64_t sockets_open;    /* WebSockets open now */
    uint64_t socket_messages; /* WebSocket message fragments received */
    /* registrations answered by the database (stored or duplicate), by time taken */
    uint64_t registration_le[GW_METRICS_REGISTRATION_BUCKETS]; /* not cumulative */
    uint64_t registration_count;
    double registration_seconds;
};

/* Counts a finished job; now is the loop's monotonic clock (the job's submitted_at's). */
void gw_metrics_count_result(struct gw_metrics *m, const struct gw_intake_job *job, double now);
/* Arena-owned text, NULL when out of memory. */
char *gw_metrics_render(const struct gw_metrics *m, struct gw_arena *arena, size_t in_flight);

#endif
