/*
 * The gateway's own TLS (tls.cert_file, tls.key_file): a certificate and its
 * key read from PEM files and checked before anything is served with them
 * (tls.c), and the server side that hands them to libwebsockets' OpenSSL
 * context and swaps them on SIGHUP (server_tls.c).
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>

#include "gw_error.h"

struct gw_config;
struct gw_problems;
struct lws_context_creation_info;
struct ssl_ctx_st;
struct ssl_st;

/* A certificate expiring within this many days is served, with a warning. */
#define GW_TLS_WARN_DAYS 14

/* A certificate (the first in cert_file), the chain after it, and its key. */
struct gw_tls_pair;

/*
 * Reads and checks the pair: both files readable; a PEM certificate first in
 * cert_file, any intermediates after it; an unencrypted PEM key that matches
 * it; no RSA key under 2048 bits (nor any key under 112 bits of security); no
 * MD5 or SHA-1 signature; valid now. On failure why holds one line that names
 * the setting and the file (never the key's content). On GW_OK *out is the
 * caller's (gw_tls_pair_free).
 */
GW_MUST_USE enum gw_err gw_tls_pair_load(const char *cert_file, const char *key_file,
                                         struct gw_tls_pair **out, char *why, size_t why_len);
void gw_tls_pair_free(struct gw_tls_pair *pair);
/* Whole days until the certificate expires. */
int gw_tls_pair_days_left(const struct gw_tls_pair *pair);
/* Makes the pair the one connection's certificate (at its handshake); 0 or -1. */
int gw_tls_pair_use(const struct gw_tls_pair *pair, struct ssl_st *ssl);
/* "subject=CN=... serial=... expires=YYYY-MM-DD HH:MM UTC", for log lines. */
void gw_tls_pair_describe(const struct gw_tls_pair *pair, char *out, size_t cap);

/*
 * check-config's and serve's check of the "tls" settings: every problem into
 * pr (nothing when TLS is off), and a warning line per condition that only
 * deserves one (the certificate expires within GW_TLS_WARN_DAYS days, a
 * public_url that is not https) through warn.
 */
void gw_tls_check_config(const struct gw_config *cfg, struct gw_problems *pr,
                         void (*warn)(const char *line));

/* server_tls.c: the listening side. */
struct gw_server_tls;

/*
 * NULL without TLS settings (plain HTTP). Otherwise loads the pair (logging
 * why when it cannot: the caller then fails to start) and fills info so that
 * lws makes its OpenSSL context; gw_server_tls_callback finishes it.
 */
GW_MUST_USE enum gw_err gw_server_tls_create(const struct gw_config *cfg,
                                             struct lws_context_creation_info *info,
                                             struct gw_server_tls **out);
/*
 * For the first protocol's callback on LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS,
 * with the vhost's SSL_CTX: sets the protocol floor, the ciphers and the
 * certificate callback. Returns 0, or nonzero to fail the context.
 */
int gw_server_tls_setup(struct gw_server_tls *tls, struct ssl_ctx_st *ctx);
/*
 * Reads the files again (SIGHUP). A pair that passes gw_tls_pair_load is
 * used for every handshake from now on; connections already open keep the
 * one they started with. A pair that fails is refused with a log line and
 * the current one stays.
 */
void gw_server_tls_reload(struct gw_server_tls *tls);
void gw_server_tls_destroy(struct gw_server_tls *tls);

#endif
