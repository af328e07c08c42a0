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

#include "gw_sign.h"
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
    struct gw_piece *pieces = malloc((2 * n + 1) * sizeof(*pieces));
    bool ok = sorted && pieces;
    if (ok) {
        if (n)
            memcpy(sorted, form->fields, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), by_name_then_value);
        pieces[0] = (struct gw_piece){url, strlen(url)};
        for (size_t i = 0; i < n; i++) {
            pieces[1 + 2 * i] = (struct gw_piece){sorted[i].name, strlen(sorted[i].name)};
            pieces[2 + 2 * i] = (struct gw_piece){sorted[i].value, strlen(sorted[i].value)};
        }
        unsigned char mac[64];
        size_t mac_len = 0;
        ok = gw_hmac("SHA1", auth_token, pieces, 2 * n + 1, mac, &mac_len);
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
    char expected[65];
    if (!gw_intake_signature_v1(secret, t, body, len, expected)) {
        *why = "the signature could not be computed";
        return false;
    }
    bool match = false;
    for (size_t i = 0; i < n_given; i++)
        match |= phone_secret_equal(given[i], expected);
    if (!match)
        *why = "the signature does not match";
    return match;
}
