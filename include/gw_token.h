/*
 * Secrets handed to clients (chat session tokens, agent tokens, survey
 * links): random bytes in base64url, stored only as their SHA-256.
 */
#ifndef GW_TOKEN_H
#define GW_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define GW_TOKEN_BYTES 32 /* 256 random bits */
#define GW_TOKEN_CHARS 43 /* their base64url length, without padding */

/* n random bytes as base64url into out (cap >= 4 * n / 3 + 2); false without randomness. */
bool gw_token_random(char *out, size_t cap, size_t n);
/* A new token of GW_TOKEN_BYTES; false without randomness or room. */
bool gw_token_new(char *out, size_t cap);
/* SHA-256 of the token's bytes as 64 lower-case hex digits. */
void gw_token_hash(const char *token, char out[65]);

#endif
