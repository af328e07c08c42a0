/* Random tokens and their hashes (OpenSSL's generator, encoder and digest). */
#include "gw_token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

bool gw_token_random(char *out, size_t cap, size_t n)
{
    unsigned char raw[48];
    unsigned char b64[72];
    if (n > sizeof(raw) || cap < 4 * n / 3 + 2 || RAND_bytes(raw, (int)n) != 1)
        return false;
    int len = EVP_EncodeBlock(b64, raw, (int)n);
    size_t o = 0;
    /* base64 to base64url: another alphabet for two symbols, and no padding. */
    for (int i = 0; i < len && b64[i] != '='; i++)
        out[o++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[o] = '\0';
    return true;
}

bool gw_token_new(char *out, size_t cap)
{
    return gw_token_random(out, cap, GW_TOKEN_BYTES);
}

void gw_token_hash(const char *token, char out[65])
{
    unsigned char d[32];
    unsigned int n = sizeof(d);
    EVP_Digest(token, strlen(token), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}
