/*
 * The words of an acknowledgement, shared by every channel: ticket number,
 * what happens next, and the response promise for the ticket's priority, in
 * Chinese or English. Channels wrap this text in their own format.
 */
#ifndef GW_ACK_H
#define GW_ACK_H

#include <jansson.h>

#include "gw_arena.h"

struct gw_config;

/* Arena-owned text for an outbox "ack" payload; NULL when out of memory. */
char *gw_ack_text(const json_t *ack, const struct gw_config *cfg, struct gw_arena *arena);

#endif
