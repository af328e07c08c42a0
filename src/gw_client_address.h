/*
 * The address a per-client limit is kept for. Behind a load balancer every
 * request comes from the balancer's address; when the peer is one of
 * server.trusted_proxies, the client is the right-most hop of
 * X-Forwarded-For that is not itself a trusted proxy (what a client writes
 * into the header sits left of what our proxies append, so it is never
 * believed). From any other peer the header is ignored.
 */
#ifndef GW_CLIENT_ADDRESS_H
#define GW_CLIENT_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

struct gw_config;
struct lws;

/* Whether text is an IPv4 or IPv6 address, or one with a /prefix length. */
bool gw_client_cidr_valid(const char *text);

/*
 * The client of a request from peer carrying forwarded_for (NULL: none),
 * given the trusted list; written to out (cap bytes). Pure, for the tests.
 */
void gw_client_pick(const char *peer, const char *forwarded_for, char *const *trusted,
                    size_t n_trusted, char *out, size_t cap);

/* The client of the request on wsi (its peer, or whom a trusted proxy names); "?" if unknown. */
void gw_client_address(struct lws *wsi, const struct gw_config *cfg, char *out, size_t cap);

#endif
