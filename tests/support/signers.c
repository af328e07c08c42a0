/*
 * Test-side signers (signers.h). A failure here is a broken OpenSSL or no
 * memory, never a verdict on the code under test: it aborts rather than
 * returning something every caller would have to check.
 */
#include "signers.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *must_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static int by_name(const void *a, const void *b)
{
    const struct form_field *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

void signer_twilio(const char *token, const char *url, const struct form_field *fields, size_t n,
                   char out[SIGNER_TWILIO_LEN])
{
    struct form_field *sorted = must_malloc(n * sizeof(*sorted));
    if (n)
        memcpy(sorted, fields, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), by_name);
    size_t len = strlen(url);
    for (size_t i = 0; i < n; i++)
        len += strlen(sorted[i].name) + strlen(sorted[i].value);
    char *text = must_malloc(len + 1);
    char *p = stpcpy(text, url);
    for (size_t i = 0; i < n; i++)
        p = stpcpy(stpcpy(p, sorted[i].name), sorted[i].value);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha1(), token, (int)strlen(token), (const unsigned char *)text, len, mac,
              &mac_len) ||
        mac_len != 20)
        abort();
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
    free(text);
    free(sorted);
}

void signer_intake(const char *secret, long t, const void *body, size_t len,
                   char out[SIGNER_INTAKE_LEN])
{
    char prefix[24];
    size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "%ld.", t);
    unsigned char *text = must_malloc(plen + len);
    memcpy(text, prefix, plen);
    if (len)
        memcpy(text + plen, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), text, plen + len, mac, &mac_len) ||
        mac_len != 32)
        abort();
    free(text);
    int o = snprintf(out, SIGNER_INTAKE_LEN, "t=%ld,v1=", t);
    for (unsigned i = 0; i < mac_len; i++)
        o += snprintf(out + o, SIGNER_INTAKE_LEN - (size_t)o, "%02x", mac[i]);
}

void signer_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL) || dlen != 32)
        abort();
    for (unsigned i = 0; i < dlen; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
