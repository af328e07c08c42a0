/*
 * Request ids (gw_log.h): a client's own X-Request-Id is kept when it is
 * short and made only of letters, digits, '.', '_' and '-', so that it can
 * go into a log line, a header and a JSON field as it is: no quoting, no
 * line break, no '=' to forge another field. Anything else (too long, a
 * space, a quote, a control character, empty) is replaced by an id of our
 * own rather than cleaned, since a cleaned id would no longer match the
 * one the client logged. Ours are 64 random bits: unique enough to find a
 * request's lines among a day's, with no counter shared between threads
 * or gateways.
 */
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gw_log.h"

static bool safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

char *gw_request_id_new(char out[GW_REQUEST_ID_SIZE])
{
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
        /* Never without an id: the time and the address of out, if OpenSSL fails. */
        unsigned long long v = (unsigned long long)(size_t)out ^ (unsigned long long)time(NULL);
        memcpy(bytes, &v, sizeof(bytes));
    }
    for (size_t i = 0; i < sizeof(bytes); i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return out;
}

char *gw_request_id_take(const char *given, char out[GW_REQUEST_ID_SIZE])
{
    size_t n = 0;
    while (given && n <= GW_REQUEST_ID_MAX && given[n] && safe_char(given[n]))
        n++;
    if (!given || n == 0 || n > GW_REQUEST_ID_MAX || given[n])
        return gw_request_id_new(out);
    memcpy(out, given, n);
    out[n] = '\0';
    return out;
}
