/*
 * What the OAuth2 token store and `intake mail-auth` share: the endpoints of
 * a provider, secrets read from the environment or a file, and one form POST
 * to an endpoint answered in JSON (libcurl, jansson).
 */
#ifndef GW_OAUTH_HTTP_H
#define GW_OAUTH_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_error.h"

#define GW_OAUTH_URL_MAX 512

struct gw_oauth_endpoints {
    char token_url[GW_OAUTH_URL_MAX];
    char device_url[GW_OAUTH_URL_MAX]; /* "" when the provider has none we know */
};

/*
 * The endpoints of provider ("microsoft", "google", "custom"): authority
 * replaces the provider's login host (national clouds, a loopback stand-in
 * in tests), token_url and device_url replace the paths built from it.
 * Each must be https, or http to a loopback address. false: why says what
 * is wrong.
 */
bool gw_oauth_endpoints(const char *provider, const char *tenant, const char *authority,
                        const char *token_url, const char *device_url,
                        struct gw_oauth_endpoints *out, char *why, size_t why_len);

/* The scope asked for when none is configured (NULL: none), for mail in or out. */
const char *gw_oauth_default_scope(const char *provider, bool sending);
/* The scope `intake mail-auth` asks for: reading and sending mail, and refresh tokens. */
const char *gw_oauth_default_mail_scope(const char *provider);

/*
 * A secret named by spec's "<name>_env" (an environment variable) or
 * "<name>_file" (its first line), malloc'd; NULL with why when neither is
 * set or readable, *absent set when neither is configured at all.
 */
char *gw_oauth_read_secret(const json_t *spec, const char *name, bool *absent, char *why,
                           size_t why_len);

/* Appends key=value, form-encoded, to *form (malloc'd, grown); false when out of memory. */
bool gw_oauth_form_add(char **form, const char *key, const char *value);

/*
 * POSTs form to url. GW_OK: *status is the HTTP status and *answer the JSON
 * object answered (the caller's; NULL when the body was not a JSON object).
 * GW_ERR_IO: no answer (why says why, naming no secret).
 */
GW_MUST_USE enum gw_err gw_oauth_post(const char *url, const char *form, long *status,
                                      json_t **answer, char *why, size_t why_len);

/* Writes secret and a newline to path through a fresh 0600 file renamed over it. */
GW_MUST_USE enum gw_err gw_oauth_store_secret(const char *path, const char *secret);

#endif
