/*
 * Per-client limits for the HTTP front: a token bucket of requests per second
 * (off by default: mail providers and phone systems post from few addresses at
 * high rates) and a cap on failed authentications per minute (on by default:
 * guessing tokens should be slow). Keys are client addresses; the table has a
 * fixed size, and the stalest entry gives way when it is full, so memory stays
 * bounded whatever the number of clients. Used from one thread (the loop).
 */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>

struct gw_ratelimit;

/* rate_per_s 0: no request limit; burst: bucket size. auth_fails_per_min 0: no cap. */
struct gw_ratelimit *gw_ratelimit_create(double rate_per_s, double burst, int auth_fails_per_min);
void gw_ratelimit_destroy(struct gw_ratelimit *rl);

/* Takes a token for client at time now_s; false: over the limit, *retry_s says when to retry. */
bool gw_ratelimit_allow(struct gw_ratelimit *rl, const char *client, double now_s, int *retry_s);
/* Records a failed authentication. */
void gw_ratelimit_auth_failed(struct gw_ratelimit *rl, const char *client, double now_s);
/* False while the client is over its failed-authentication cap. */
bool gw_ratelimit_auth_allowed(struct gw_ratelimit *rl, const char *client, double now_s,
                               int *retry_s);

#endif
