/*
 * Reading and judging a certificate and key for the gateway's own TLS (see
 * gw_tls.h). The files are read once, with OpenSSL's PEM readers, into
 * objects that the server hands to each handshake as they are: what was
 * checked is what is served, even if the files change in between. A weak or
 * broken pair is refused here, with a line that says which setting, which
 * file and what to do, rather than found out by the first browser that
 * refuses to connect. Messages name files, never a key's content.
 */
#include "gw_tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_config.h"

struct gw_tls_pair {
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates after the leaf in cert_file; may be empty */
    EVP_PKEY *key;
};

/* RSA's floor, and the same strength for any other kind of key (NIST SP 800-57). */
#define MIN_RSA_BITS      2048
#define MIN_SECURITY_BITS 112

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* A PEM pass phrase is never asked for: a server cannot type one at a SIGHUP. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static FILE *open_readable(const char *setting, const char *path, char *why, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        say(why, cap, "%s: cannot read %s: %s", setting, path, strerror(errno));
    return f;
}

static enum gw_err read_certificates(struct gw_tls_pair *p, const char *path, char *why, size_t cap)
{
    FILE *f = open_readable("tls.cert_file", path, why, cap);
    if (!f)
        return GW_ERR_CONFIG;
    p->leaf = PEM_read_X509(f, NULL, no_passphrase, NULL);
    p->chain = sk_X509_new_null();
    X509 *more;
    while (p->leaf && p->chain && (more = PEM_read_X509(f, NULL, no_passphrase, NULL)))
        if (!sk_X509_push(p->chain, more)) {
            X509_free(more);
            break;
        }
    fclose(f);
    ERR_clear_error(); /* the end of the file, said as an error */
    if (!p->leaf) {
        say(why, cap, "tls.cert_file: %s holds no PEM certificate", path);
        return GW_ERR_CONFIG;
    }
    return p->chain ? GW_OK : GW_ERR_NOMEM;
}

static enum gw_err read_key(struct gw_tls_pair *p, const char *path, char *why, size_t cap)
{
    FILE *f = open_readable("tls.key_file", path, why, cap);
    if (!f)
        return GW_ERR_CONFIG;
    p->key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    ERR_clear_error();
    if (!p->key) {
        say(why, cap,
            "tls.key_file: %s holds no PEM private key (a key encrypted with a pass phrase "
            "cannot be used: the gateway has nobody to ask)",
            path);
        return GW_ERR_CONFIG;
    }
    return GW_OK;
}

static void utc_date(const ASN1_TIME *t, char *out, size_t cap)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, cap, "an unreadable date");
}

static enum gw_err judge(const struct gw_tls_pair *p, const char *cert_path, const char *key_path,
                         char *why, size_t cap)
{
    if (!X509_check_private_key(p->leaf, p->key)) {
        ERR_clear_error();
        say(why, cap, "tls.key_file: the key in %s does not belong to the certificate in %s",
            key_path, cert_path);
        return GW_ERR_CONFIG;
    }
    int bits = EVP_PKEY_get_bits(p->key);
    if (EVP_PKEY_get_base_id(p->key) == EVP_PKEY_RSA && bits < MIN_RSA_BITS) {
        say(why, cap, "tls.key_file: %s is an RSA key of %d bits: use %d bits or more", key_path,
            bits, MIN_RSA_BITS);
        return GW_ERR_CONFIG;
    }
    if (EVP_PKEY_get_security_bits(p->key) < MIN_SECURITY_BITS) {
        say(why, cap,
            "tls.key_file: %s is a weak key (%d bits of security): use RSA of %d bits or more, "
            "or ECDSA on P-256 or larger",
            key_path, EVP_PKEY_get_security_bits(p->key), MIN_RSA_BITS);
        return GW_ERR_CONFIG;
    }
    int digest = NID_undef, pkey = NID_undef;
    if (OBJ_find_sigid_algs(X509_get_signature_nid(p->leaf), &digest, &pkey) &&
        (digest == NID_md5 || digest == NID_sha1)) {
        say(why, cap,
            "tls.cert_file: the certificate in %s is signed with %s, which browsers refuse",
            cert_path, OBJ_nid2sn(digest));
        return GW_ERR_CONFIG;
    }
    char date[40];
    if (X509_cmp_current_time(X509_get0_notBefore(p->leaf)) > 0) {
        utc_date(X509_get0_notBefore(p->leaf), date, sizeof(date));
        say(why, cap, "tls.cert_file: the certificate in %s is not valid before %s", cert_path,
            date);
        return GW_ERR_CONFIG;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(p->leaf)) < 0) {
        utc_date(X509_get0_notAfter(p->leaf), date, sizeof(date));
        say(why, cap, "tls.cert_file: the certificate in %s expired on %s", cert_path, date);
        return GW_ERR_CONFIG;
    }
    return GW_OK;
}

enum gw_err gw_tls_pair_load(const char *cert_file, const char *key_file, struct gw_tls_pair **out,
                             char *why, size_t why_len)
{
    struct gw_tls_pair *p = calloc(1, sizeof(*p));
    if (!p) {
        say(why, why_len, "out of memory");
        return GW_ERR_NOMEM;
    }
    enum gw_err err = read_certificates(p, cert_file, why, why_len);
    if (err == GW_OK)
        err = read_key(p, key_file, why, why_len);
    if (err == GW_OK)
        err = judge(p, cert_file, key_file, why, why_len);
    if (err != GW_OK) {
        if (err == GW_ERR_NOMEM)
            say(why, why_len, "out of memory");
        gw_tls_pair_free(p);
        return err;
    }
    *out = p;
    return GW_OK;
}

void gw_tls_pair_free(struct gw_tls_pair *pair)
{
    if (!pair)
        return;
    X509_free(pair->leaf);
    sk_X509_pop_free(pair->chain, X509_free);
    EVP_PKEY_free(pair->key);
    free(pair);
}

int gw_tls_pair_use(const struct gw_tls_pair *pair, SSL *ssl)
{
    /*
     * Cleared first: a pair of another key type (RSA after ECDSA) would
     * otherwise sit beside the one the connection had from its context.
     */
    SSL_certs_clear(ssl);
    return SSL_use_cert_and_key(ssl, pair->leaf, pair->key, pair->chain, 1) == 1 ? 0 : -1;
}

int gw_tls_pair_days_left(const struct gw_tls_pair *pair)
{
    int days = 0, secs = 0;
    if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(pair->leaf)))
        return 0;
    return days;
}

void gw_tls_pair_describe(const struct gw_tls_pair *pair, char *out, size_t cap)
{
    char subject[256] = "", serial[80] = "?", expires[40];
    X509_NAME_oneline(X509_get_subject_name(pair->leaf), subject, sizeof(subject));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(pair->leaf), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex)
        snprintf(serial, sizeof(serial), "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    utc_date(X509_get0_notAfter(pair->leaf), expires, sizeof(expires));
    snprintf(out, cap, "subject=%s serial=%s expires=\"%s\"", subject, serial, expires);
}

void gw_tls_check_config(const struct gw_config *cfg, struct gw_problems *pr,
                         void (*warn)(const char *line))
{
    if (!cfg->tls_cert_file)
        return;
    char why[512];
    struct gw_tls_pair *pair = NULL;
    if (gw_tls_pair_load(cfg->tls_cert_file, cfg->tls_key_file, &pair, why, sizeof(why)) != GW_OK) {
        gw_problems_add(pr, "%s", why);
        return;
    }
    int days = gw_tls_pair_days_left(pair);
    if (days < GW_TLS_WARN_DAYS) {
        char date[40];
        utc_date(X509_get0_notAfter(pair->leaf), date, sizeof(date));
        snprintf(why, sizeof(why),
                 "tls.cert_file: the certificate in %s expires on %s, in %d day%s: renew it, "
                 "then SIGHUP the gateway",
                 cfg->tls_cert_file, date, days, days == 1 ? "" : "s");
        warn(why);
    }
    gw_tls_pair_free(pair);
    if (strncmp(cfg->public_url, "https://", 8))
        warn("public_url: the gateway serves https (tls.cert_file is set) but public_url "
             "is not https://: links in mail and the chat widget would use plain http");
}
