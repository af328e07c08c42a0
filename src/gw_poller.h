/*
 * The poller: one thread that runs the channels' poll hooks (mailboxes to
 * drain, periodic sweeps) every few seconds, with a database connection and
 * a curl handle of its own. What a hook may do there is in gw_poll.h.
 */
#ifndef GW_POLLER_H
#define GW_POLLER_H

#include "gw_error.h"
#include "gw_poll.h"

struct gw_config;
struct gw_poller;

/* Starts the thread when some channel has a poll hook; *out may stay NULL. */
GW_MUST_USE enum gw_err gw_poller_start(const struct gw_config *cfg, struct gw_poller **out);
void gw_poller_stop(struct gw_poller *poller);

#endif
