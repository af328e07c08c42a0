/*
 * The phone channel's three webhooks as their senders call them, against a
 * gateway the test started: Twilio's signed form posts, a PBX bridge's CTI
 * form (the token in the path) and our signed JSON events. Each returns
 * the HTTP status; body_out, when not NULL, receives the answer's body
 * (malloc'd, the caller frees it).
 */
#ifndef PHONE_WEBHOOKS_H
#define PHONE_WEBHOOKS_H

#include "harness.h"

/*
 * POST /v1/phone/twilio with fields given as "Name=Value" (unencoded,
 * NULL-terminated), signed with token over public_url + the path. query:
 * as it stands in the callback URL Twilio was given (escaped), or NULL.
 */
long webhook_twilio(const struct harness_gateway *gw, const char *public_url, const char *token,
                    const char *query, const char *const *fields, char **body_out);

/* POST /v1/phone/events with json, signed with secret at time t. */
long webhook_native(const struct harness_gateway *gw, const char *secret, long t, const char *json,
                    char **body_out);

/* POST /v1/phone/cti/<token> with a form (already encoded). */
long webhook_cti(const struct harness_gateway *gw, const char *token, const char *form);

#endif
