/* HMAC signatures with OpenSSL's EVP_MAC (gw_sign.h). */
#include "gw_sign.h"

#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

bool gw_hmac(const char *digest, const char *key, const struct gw_piece *pieces, size_t n,
             unsigned char mac[64], size_t *mac_len)
{
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)digest, 0),
                           OSSL_PARAM_construct_end()};
    bool ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params);
    for (size_t i = 0; i < n && ok; i++)
        ok = EVP_MAC_update(ctx, pieces[i].data, pieces[i].len);
    ok = ok && EVP_MAC_final(ctx, mac, mac_len, 64);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    return ok;
}

bool gw_intake_signature_v1(const char *secret, long t, const void *body, size_t len, char out[65])
{
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%ld.", t);
    const struct gw_piece pieces[] = {{prefix, strlen(prefix)}, {body, len}};
    unsigned char mac[64];
    size_t mac_len = 0;
    if (!gw_hmac("SHA256", secret, pieces, 2, mac, &mac_len) || mac_len != 32)
        return false;
    for (size_t i = 0; i < mac_len; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    return true;
}
