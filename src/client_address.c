/*
 * Who a request comes from, for per-client limits behind a proxy
 * (gw_client_address.h). Addresses are compared as bytes after inet_pton, so
 * "::ffff:10.0.0.1" (a dual-stack socket's view of an IPv4 peer) matches
 * 10.0.0.0/8. The trusted list is short and read per request: parsing a few
 * addresses costs less than the request's own header parsing. The PROXY
 * protocol is not read: libwebsockets (4.1) parses HTTP from the first byte
 * and gives no hook before it, so X-Forwarded-For is the one source.
 */
#include "gw_client_address.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"

/* Above lws's own cap on a request's headers, so a header is never too long to read. */
#define FORWARDED_MAX 8192

/* An address as 16 bytes (IPv4 as ::ffff:a.b.c.d) and the prefix length over them. */
struct net {
    unsigned char addr[16];
    int bits;
};

static bool parse_addr(const char *text, unsigned char out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

static bool is_v4(const unsigned char a[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a, mapped, 12);
}

static bool parse_net(const char *text, struct net *n)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    if (len >= sizeof(addr))
        return false;
    memcpy(addr, text, len);
    addr[len] = '\0';
    if (!parse_addr(addr, n->addr))
        return false;
    int max = is_v4(n->addr) && !strchr(addr, ':') ? 32 : 128;
    n->bits = 128;
    if (slash) {
        char *end = NULL;
        long bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || bits < 0 || bits > max)
            return false;
        n->bits = (int)bits + (128 - max);
    }
    return true;
}

bool gw_client_cidr_valid(const char *text)
{
    struct net n;
    return text && parse_net(text, &n);
}

static bool in_net(const unsigned char a[16], const struct net *n)
{
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(a, n->addr, (size_t)full))
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (n->addr[full] & mask);
}

static bool trusted_addr(const char *text, char *const *trusted, size_t n_trusted)
{
    unsigned char a[16];
    if (!parse_addr(text, a))
        return false;
    for (size_t i = 0; i < n_trusted; i++) {
        struct net n;
        if (parse_net(trusted[i], &n) && in_net(a, &n))
            return true;
    }
    return false;
}

/* s[0..n) without spaces around it, copied into out. */
static void trimmed(const char *s, size_t n, char *out, size_t cap)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    snprintf(out, cap, "%.*s", (int)n, s);
}

void gw_client_pick(const char *peer, const char *forwarded_for, char *const *trusted,
                    size_t n_trusted, char *out, size_t cap)
{
    snprintf(out, cap, "%s", peer);
    if (!forwarded_for || !trusted_addr(peer, trusted, n_trusted))
        return;
    /* From the right: each hop a trusted proxy wrote, until one it did not trust. */
    size_t end = strlen(forwarded_for);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && forwarded_for[start - 1] != ',')
            start--;
        char hop[64];
        trimmed(forwarded_for + start, end - start, hop, sizeof(hop));
        unsigned char a[16];
        /* A hop that is no address was not written by a proxy of ours: stop at the last one. */
        if (!parse_addr(hop, a))
            return;
        snprintf(out, cap, "%s", hop);
        if (!trusted_addr(hop, trusted, n_trusted))
            return;
        end = start ? start - 1 : 0;
    }
}

void gw_client_address(struct lws *wsi, const struct gw_config *cfg, char *out, size_t cap)
{
    char peer[64];
    if (!lws_get_peer_simple(wsi, peer, sizeof(peer)))
        snprintf(peer, sizeof(peer), "?");
    if (!cfg->n_trusted_proxies) {
        snprintf(out, cap, "%s", peer);
        return;
    }
    /*
     * A header sent twice (the client's own, then the proxy's) is two
     * fragments; whether lws joins them with a comma depends on its version,
     * so they are joined here, in order.
     */
    char forwarded[FORWARDED_MAX];
    size_t len = 0;
    for (int f = 0; len + 1 < sizeof(forwarded); f++) {
        int n = lws_hdr_copy_fragment(wsi, forwarded + len, (int)(sizeof(forwarded) - len),
                                      WSI_TOKEN_X_FORWARDED_FOR, f);
        if (n < 0)
            break;
        len += (size_t)n;
        forwarded[len++] = ',';
    }
    if (len)
        forwarded[len - 1] = '\0';
    gw_client_pick(peer, len ? forwarded : NULL, cfg->trusted_proxies, cfg->n_trusted_proxies, out,
                   cap);
}
