/*
 * Client limits in a fixed open-addressing table (linear probing over a short
 * window). A lookup that finds neither its key nor a free slot in the window
 * takes over the least recently seen slot in it: an attacker cycling through
 * addresses can only evict others' buckets, never grow memory.
 */
#include "gw_ratelimit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS        4096 /* power of two */
#define PROBE_WINDOW 8
#define CLIENT_MAX   64
#define AUTH_WINDOW  60.0

struct slot {
    char client[CLIENT_MAX]; /* "" = free */
    double tokens;
    double refilled_at;
    double seen_at;
    int auth_fails;
    double auth_window_start;
};

struct gw_ratelimit {
    double rate, burst;
    int auth_cap;
    struct slot slots[SLOTS];
};

struct gw_ratelimit *gw_ratelimit_create(double rate_per_s, double burst, int auth_fails_per_min)
{
    struct gw_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->rate = rate_per_s;
    rl->burst = burst > 1 ? burst : 1;
    rl->auth_cap = auth_fails_per_min;
    return rl;
}

void gw_ratelimit_destroy(struct gw_ratelimit *rl)
{
    free(rl);
}

/* FNV-1a: small, no allocation, good enough spread for addresses. */
static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct slot *find(struct gw_ratelimit *rl, const char *client, double now)
{
    uint32_t h = hash(client);
    struct slot *oldest = NULL;
    for (uint32_t i = 0; i < PROBE_WINDOW; i++) {
        struct slot *s = &rl->slots[(h + i) & (SLOTS - 1)];
        if (!strncmp(s->client, client, CLIENT_MAX - 1))
            return s;
        if (!s->client[0] || !oldest || s->seen_at < oldest->seen_at)
            oldest = s;
        if (!s->client[0])
            break;
    }
    memset(oldest, 0, sizeof(*oldest));
    strncpy(oldest->client, client, CLIENT_MAX - 1);
    oldest->tokens = rl->burst;
    oldest->refilled_at = now;
    oldest->auth_window_start = now;
    return oldest;
}

bool gw_ratelimit_allow(struct gw_ratelimit *rl, const char *client, double now_s, int *retry_s)
{
    if (rl->rate <= 0)
        return true;
    struct slot *s = find(rl, client, now_s);
    s->seen_at = now_s;
    s->tokens = fmin(rl->burst, s->tokens + (now_s - s->refilled_at) * rl->rate);
    s->refilled_at = now_s;
    if (s->tokens >= 1) {
        s->tokens -= 1;
        return true;
    }
    *retry_s = (int)ceil((1 - s->tokens) / rl->rate);
    if (*retry_s < 1)
        *retry_s = 1;
    return false;
}

static void roll_window(struct slot *s, double now)
{
    if (now - s->auth_window_start >= AUTH_WINDOW) {
        s->auth_window_start = now;
        s->auth_fails = 0;
    }
}

void gw_ratelimit_auth_failed(struct gw_ratelimit *rl, const char *client, double now_s)
{
    if (rl->auth_cap <= 0)
        return;
    struct slot *s = find(rl, client, now_s);
    s->seen_at = now_s;
    roll_window(s, now_s);
    s->auth_fails++;
}

bool gw_ratelimit_auth_allowed(struct gw_ratelimit *rl, const char *client, double now_s,
                               int *retry_s)
{
    if (rl->auth_cap <= 0)
        return true;
    struct slot *s = find(rl, client, now_s);
    s->seen_at = now_s;
    roll_window(s, now_s);
    if (s->auth_fails < rl->auth_cap)
        return true;
    *retry_s = (int)ceil(AUTH_WINDOW - (now_s - s->auth_window_start));
    if (*retry_s < 1)
        *retry_s = 1;
    return false;
}
