/*
 * Outbound HTTP for the dispatcher (callbacks, webhooks), with libcurl. Only
 * http and https, no redirects, short timeouts: a slow receiver must not
 * stall the outbox.
 */
#ifndef GW_HTTP_SEND_H
#define GW_HTTP_SEND_H

#include <stddef.h>

#include "gw_error.h"

struct gw_http_post {
    const char *url;
    const char *content_type;
    const char *body;
    size_t len;
    const char *idempotency_key; /* sent as Idempotency-Key */
    const char *basic_auth;      /* "user:password", or NULL */
    const char *signature;       /* sent as X-Intake-Signature (gw_sign.h), or NULL */
};

/*
 * POSTs a request. GW_OK only on a 2xx answer; otherwise why says what
 * happened: GW_ERR_UNREACHABLE when the receiver did not answer (no
 * connection, a timeout) or said it cannot take requests now (408, 429, 502,
 * 503, 504), GW_ERR_DELIVERY when it answered and refused this one.
 */
GW_MUST_USE enum gw_err gw_http_post(void *curl, const struct gw_http_post *post, char *why,
                                     size_t why_len);

/* True when a libcurl result (a CURLcode) means the server was never heard from. */
int gw_curl_unreachable(int curl_code);

#endif
