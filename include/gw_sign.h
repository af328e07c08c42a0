/*
 * HMAC signatures: the gateway's own scheme, X-Intake-Signature:
 * "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." followed by the body>",
 * which it checks on signed phone events and puts on the webhooks it sends.
 */
#ifndef GW_SIGN_H
#define GW_SIGN_H

#include <stdbool.h>
#include <stddef.h>

/* One part of the signed bytes. */
struct gw_piece {
    const void *data;
    size_t len;
};

/* HMAC (digest "SHA1", "SHA256") over the pieces in order; *mac_len bytes into mac. */
bool gw_hmac(const char *digest, const char *key, const struct gw_piece *pieces, size_t n,
             unsigned char mac[64], size_t *mac_len);
/* The v1 value for body signed with secret at time t (64 hex digits). */
bool gw_intake_signature_v1(const char *secret, long t, const void *body, size_t len, char out[65]);

#endif
