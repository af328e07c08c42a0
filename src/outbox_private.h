/*
 * What the outbox's files share and nothing else needs (src/outbox*.c).
 */
#ifndef OUTBOX_PRIVATE_H
#define OUTBOX_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_channel.h"

struct gw_config;

/*
 * The name of the receiver d goes through ("smtp://host:port",
 * "https://host:443"); false when it has none (nothing to send) or the
 * name does not fit in cap.
 */
bool outbox_receiver_name(const struct gw_config *cfg, const struct gw_delivery *d, char *out,
                          size_t cap);

/* Seconds until a receiver that a try of took_s seconds could not reach is probed again. */
double outbox_probe_after(const struct gw_config *cfg, double took_s);

#endif
