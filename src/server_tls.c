/*
 * HTTPS and WSS on the gateway's own port (see gw_tls.h), with lws's OpenSSL
 * backend. lws makes the vhost's SSL_CTX (LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX)
 * without a certificate; we set its floor and ciphers and a certificate
 * callback, which gives every handshake the pair loaded last. A reload
 * (SIGHUP) only swaps that pair: a connection keeps the certificate it was
 * accepted with (OpenSSL copies it into the connection), new handshakes get
 * the new one, and nothing is closed. lws's own loader, which writes into the
 * live SSL_CTX file by file, would leave a mismatched certificate and key in
 * place when the second file fails; the checks come first here.
 *
 * Only HTTP/1.1 is offered over ALPN: the request path and its tests are
 * HTTP/1.1's (keep-alive, Connection: close while draining).
 */
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_log.h"
#include "gw_tls.h"

/*
 * Mozilla's "intermediate" profile without finite-field DHE (lws sets no DH
 * parameters): forward secrecy and AEAD only. TLS 1.3's three suites are all
 * strong; naming them keeps a changed OpenSSL default from adding one.
 */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct gw_server_tls {
    char *cert_file, *key_file;
    struct gw_tls_pair *pair; /* served to new handshakes */
};

static void log_pair(const char *what, const struct gw_tls_pair *pair)
{
    char about[512];
    gw_tls_pair_describe(pair, about, sizeof(about));
    gw_info("tls: %s %s", what, about);
}

enum gw_err gw_server_tls_create(const struct gw_config *cfg,
                                 struct lws_context_creation_info *info, struct gw_server_tls **out)
{
    *out = NULL;
    if (!cfg->tls_cert_file)
        return GW_OK;
    struct gw_server_tls *tls = calloc(1, sizeof(*tls));
    if (!tls)
        return GW_ERR_NOMEM;
    tls->cert_file = strdup(cfg->tls_cert_file);
    tls->key_file = strdup(cfg->tls_key_file);
    char why[512];
    enum gw_err err = GW_ERR_NOMEM;
    if (!tls->cert_file || !tls->key_file ||
        (err = gw_tls_pair_load(tls->cert_file, tls->key_file, &tls->pair, why, sizeof(why))) !=
            GW_OK) {
        if (err != GW_ERR_NOMEM)
            gw_error("tls: %s", why);
        gw_server_tls_destroy(tls);
        return err;
    }
    log_pair("serving", tls->pair);
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
    info->alpn = "http/1.1";
    *out = tls;
    return GW_OK;
}

/* At each handshake, after the client's hello and before a cipher is chosen. */
static int on_certificate(SSL *ssl, void *arg)
{
    struct gw_server_tls *tls = arg;
    return gw_tls_pair_use(tls->pair, ssl) == 0;
}

int gw_server_tls_setup(struct gw_server_tls *tls, SSL_CTX *ctx)
{
    if (!tls || !ctx)
        return 1;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_CIPHERS)) {
        gw_error("tls: OpenSSL refused the protocol floor or the cipher list");
        return 1;
    }
    SSL_CTX_set_cert_cb(ctx, on_certificate, tls);
    return 0;
}

void gw_server_tls_reload(struct gw_server_tls *tls)
{
    if (!tls) {
        gw_info("reload: nothing to reload (no tls.cert_file); other settings take a restart");
        return;
    }
    char why[512];
    struct gw_tls_pair *fresh = NULL;
    if (gw_tls_pair_load(tls->cert_file, tls->key_file, &fresh, why, sizeof(why)) != GW_OK) {
        char about[512];
        gw_tls_pair_describe(tls->pair, about, sizeof(about));
        gw_error("tls: reload refused: %s; still serving %s", why, about);
        return;
    }
    gw_tls_pair_free(tls->pair);
    tls->pair = fresh;
    log_pair("reloaded; new connections get", fresh);
    int days = gw_tls_pair_days_left(fresh);
    if (days < GW_TLS_WARN_DAYS)
        gw_warn("tls: the new certificate expires in %d day%s", days, days == 1 ? "" : "s");
}

void gw_server_tls_destroy(struct gw_server_tls *tls)
{
    if (!tls)
        return;
    gw_tls_pair_free(tls->pair);
    free(tls->cert_file);
    free(tls->key_file);
    free(tls);
}
