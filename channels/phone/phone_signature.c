/*
 * Webhook authentication, with OpenSSL. Each comparison runs in constant
 * time: the given and the expected value are hashed and the digests compared
 * with CRYPTO_memcmp, so neither the length nor the first differing byte of a
 * secret shows in the response time.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phone.h"

bool phone_secret_equal(const char *given, const char *expected)
{
    if (!given || !expected)
        return false;
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)given, strlen(given), a);
    SHA256((const unsigned char *)expected, strlen(expected), b);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

void phone_sha256_hex(const unsigned char *body, size_t len, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(body, len, d);
    hex(d, sizeof(d), out);
}

struct piece {
    const void *data;
    size_t len;
};

/* HMAC over the concatenation of pieces, with OpenSSL's EVP_MAC. */
static bool hmac(const char *digest, const char *key, const struct piece *pieces, size_t n,
                 unsigned char mac[EVP_MAX_MD_SIZE], size_t *mac_len)
{
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)digest, 0),
                           OSSL_PARAM_construct_end()};
    bool ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params);
    for (size_t i = 0; i < n && ok; i++)
        ok = EVP_MAC_update(ctx, pieces[i].data, pieces[i].len);
    ok = ok && EVP_MAC_final(ctx, mac, mac_len, EVP_MAX_MD_SIZE);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    return ok;
}

static int by_name_then_value(const void *a, const void *b)
{
    const struct gw_form_field *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

bool phone_twilio_signature(const char *auth_token, const char *url, const struct gw_form *form,
                            char out[64])
{
    size_t n = form ? form->n : 0;
    struct gw_form_field *sorted = malloc((n ? n : 1) * sizeof(*sorted));
    struct piece *pieces = malloc((2 * n + 1) * sizeof(*pieces));
    bool ok = sorted && pieces;
    if (ok) {
        if (n)
            memcpy(sorted, form->fields, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), by_name_then_value);
        pieces[0] = (struct piece){url, strlen(url)};
        for (size_t i = 0; i < n; i++) {
            pieces[1 + 2 * i] = (struct piece){sorted[i].name, strlen(sorted[i].name)};
            pieces[2 + 2 * i] = (struct piece){sorted[i].value, strlen(sorted[i].value)};
        }
        unsigned char mac[EVP_MAX_MD_SIZE];
        size_t mac_len = 0;
        ok = hmac("SHA1", auth_token, pieces, 2 * n + 1, mac, &mac_len);
        if (ok)
            EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
    }
    free(sorted);
    free(pieces);
    return ok;
}

bool phone_native_signature_ok(const char *header, const char *secret, const unsigned char *body,
                               size_t len, long now, const char **why)
{
    if (!header || !*header) {
        *why = "missing X-Intake-Signature";
        return false;
    }
    long t = -1;
    char given[8][65];
    size_t n_given = 0;
    /* Comma-separated key=value items; several v1 items allow a secret to be rotated. */
    for (const char *p = header; *p;) {
        size_t item = strcspn(p, ",");
        while (*p == ' ' && item) {
            p++;
            item--;
        }
        if (item > 2 && !strncmp(p, "t=", 2)) {
            char *end;
            t = strtol(p + 2, &end, 10);
            if (end != p + item)
                t = -1;
        } else if (item == 3 + 64 && !strncmp(p, "v1=", 3) && n_given < 8) {
            memcpy(given[n_given], p + 3, 64);
            given[n_given++][64] = '\0';
        }
        p += item;
        if (*p == ',')
            p++;
    }
    if (t < 0 || n_given == 0) {
        *why = "X-Intake-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256>";
        return false;
    }
    if (t < now - PHONE_SIGNATURE_SKEW || t > now + PHONE_SIGNATURE_SKEW) {
        *why = "the signature's timestamp is outside the 5-minute window";
        return false;
    }
    if (!secret) {
        *why = "signed events are not configured (set INTAKE_WEBHOOK_SECRET)";
        return false;
    }
    char prefix[32], expected[65];
    snprintf(prefix, sizeof(prefix), "%ld.", t);
    const struct piece pieces[] = {{prefix, strlen(prefix)}, {body, len}};
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    if (!hmac("SHA256", secret, pieces, 2, mac, &mac_len)) {
        *why = "the signature could not be computed";
        return false;
    }
    hex(mac, mac_len, expected);
    bool match = false;
    for (size_t i = 0; i < n_given; i++)
        match |= phone_secret_equal(given[i], expected);
    if (!match)
        *why = "the signature does not match";
    return match;
}
