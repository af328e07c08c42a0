/* libcurl POST with the gateway's safety settings; the handle is the caller's. */
#include "gw_http_send.h"

#include <curl/curl.h>
#include <stdio.h>

int gw_curl_unreachable(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* Statuses that say "not now" about the receiver rather than "no" about the request. */
static int status_unavailable(long status)
{
    return status == 408 || status == 429 || status == 502 || status == 503 || status == 504;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *user)
{
    (void)ptr;
    (void)user;
    return size * nmemb;
}

enum gw_err gw_http_post(void *handle, const struct gw_http_post *post, char *why, size_t why_len)
{
    CURL *curl = handle;
    char ct[128], key[160], sig[160];
    snprintf(ct, sizeof(ct), "Content-Type: %s", post->content_type);
    snprintf(key, sizeof(key), "Idempotency-Key: %s", post->idempotency_key);
    struct curl_slist *headers = curl_slist_append(NULL, ct);
    headers = curl_slist_append(headers, key);
    if (post->signature) {
        snprintf(sig, sizeof(sig), "X-Intake-Signature: %s", post->signature);
        headers = curl_slist_append(headers, sig);
    }
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, post->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post->len);
    if (post->basic_auth) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, post->basic_auth);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "intake-gateway");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(why, why_len, "%s", curl_easy_strerror(rc));
        return gw_curl_unreachable(rc) ? GW_ERR_UNREACHABLE : GW_ERR_DELIVERY;
    }
    if (status < 200 || status > 299) {
        snprintf(why, why_len, "HTTP %ld", status);
        return status_unavailable(status) ? GW_ERR_UNREACHABLE : GW_ERR_DELIVERY;
    }
    return GW_OK;
}
