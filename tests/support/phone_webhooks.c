/*
 * Phone webhooks over HTTP (phone_webhooks.h). The signing is signers.c's;
 * this file only builds the requests. Form values are escaped by libcurl
 * (%20 for a space), the unit tests' encoder writes '+': the gateway reads
 * both.
 */
#include "phone_webhooks.h"

#include "signers.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_FIELDS 32

static long post(const char *url, const char *const *headers, const char *body, size_t len,
                 char **body_out)
{
    struct harness_response r;
    harness_http_headers("POST", url, headers, body, len, &r);
    long status = r.status;
    if (body_out)
        *body_out = r.body;
    else
        harness_response_free(&r);
    return status;
}

long webhook_twilio(const struct harness_gateway *gw, const char *public_url, const char *token,
                    const char *query, const char *const *fields, char **body_out)
{
    struct form_field split[MAX_FIELDS];
    char body[4096] = "";
    size_t n = 0, off = 0;
    for (; fields[n]; n++) {
        assert_true(n < MAX_FIELDS);
        const char *eq = strchr(fields[n], '=');
        assert_non_null(eq);
        split[n].name = strndup(fields[n], (size_t)(eq - fields[n]));
        split[n].value = eq + 1;
        char *esc = curl_easy_escape(NULL, eq + 1, 0);
        off += (size_t)snprintf(body + off, sizeof(body) - off, "%s%s=%s", n ? "&" : "",
                                split[n].name, esc);
        curl_free(esc);
        assert_true(off < sizeof(body));
    }
    char signed_url[512], sig[SIGNER_TWILIO_LEN], header[64], url[512];
    snprintf(signed_url, sizeof(signed_url), "%s/v1/phone/twilio%s%s", public_url, query ? "?" : "",
             query ? query : "");
    signer_twilio(token, signed_url, split, n, sig);
    for (size_t i = 0; i < n; i++)
        free((char *)split[i].name);
    snprintf(header, sizeof(header), "X-Twilio-Signature: %s", sig);
    snprintf(url, sizeof(url), "%s/v1/phone/twilio%s%s", gw->base, query ? "?" : "",
             query ? query : "");
    const char *headers[] = {header, "Content-Type: application/x-www-form-urlencoded", NULL};
    return post(url, headers, body, strlen(body), body_out);
}

long webhook_native(const struct harness_gateway *gw, const char *secret, long t, const char *json,
                    char **body_out)
{
    char sig[SIGNER_INTAKE_LEN], header[128], url[128];
    signer_intake(secret, t, json, strlen(json), sig);
    snprintf(header, sizeof(header), "X-Intake-Signature: %s", sig);
    snprintf(url, sizeof(url), "%s/v1/phone/events", gw->base);
    const char *headers[] = {header, "Content-Type: application/json", NULL};
    return post(url, headers, json, strlen(json), body_out);
}

long webhook_cti(const struct harness_gateway *gw, const char *token, const char *form)
{
    char url[192];
    snprintf(url, sizeof(url), "%s/v1/phone/cti/%s", gw->base, token);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    return post(url, headers, form, strlen(form), NULL);
}
