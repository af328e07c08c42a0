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

/*
 * The survey invitation for an outbox "survey" payload (ticket, language,
 * expires_at): its one-line title and its text with the link (url).
 */
const char *gw_survey_title(const json_t *survey);
char *gw_survey_text(const json_t *survey, const char *url, struct gw_arena *arena);

#endif
