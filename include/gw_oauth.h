/*
 * OAuth2 access tokens for mail accounts that accept no password (Microsoft
 * 365, Gmail: SASL XOAUTH2 / OAUTHBEARER). An account's settings are one
 * "oauth" object: provider ("microsoft", "google" or "custom"), tenant,
 * client_id, client_secret_env / client_secret_file, refresh_token_env /
 * refresh_token_file, scope, and authority or token_url to reach another
 * token endpoint. The store keeps, per account, the current access token and
 * refreshes it before it expires, once more when the mail server refused it,
 * and with capped exponential back-off while the token endpoint is away. A
 * refused refresh token (revoked, expired) is a lasting condition: logged
 * when it begins and ends, shown by /readyz and /metrics. Tokens and secrets
 * never reach a log line, an error text or /metrics.
 */
#ifndef GW_OAUTH_H
#define GW_OAUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_arena.h"
#include "gw_error.h"

struct gw_problems;
struct gw_oauth_store;   /* every account of one configuration; thread-safe */
struct gw_oauth_account; /* one refresh token and the access token it gives */

/* Adds every problem of an "oauth" settings object found at path. */
void gw_oauth_check(const json_t *spec, const char *path, struct gw_problems *problems);

/* NULL when out of memory. */
struct gw_oauth_store *gw_oauth_store_create(void);
void gw_oauth_store_destroy(struct gw_oauth_store *store);

/*
 * The account named label (e.g. "mailbox imap://host/INBOX", "smtp": it
 * names the account in logs, /readyz and /metrics), made from spec on first
 * use; when spec names no scope, the provider's scope for reading mail, or
 * for sending it, is asked for. Borrowed: lives as long as the store. NULL
 * when out of memory.
 */
struct gw_oauth_account *gw_oauth_account(struct gw_oauth_store *store, const json_t *spec,
                                          const char *label, bool sending);

/*
 * A current access token, refreshed first when it expires soon. GW_OK:
 * *token is the caller's (free it). GW_ERR_FORBIDDEN: the token endpoint
 * refused the refresh token (a person must run `intake mail-auth`);
 * GW_ERR_IO: the endpoint is unreachable or backing off; GW_ERR_CONFIG: no
 * refresh token could be read. why says which, with no secret in it.
 */
GW_MUST_USE enum gw_err gw_oauth_token(struct gw_oauth_account *account, char **token, char *why,
                                       size_t why_len);

/*
 * What the mail server said of token: refused (the next gw_oauth_token
 * refreshes, once per token), or accepted. A fresh token refused as well is
 * a lasting condition, reported like a refused refresh token.
 */
void gw_oauth_report(struct gw_oauth_account *account, const char *token, bool accepted);

/* /readyz: one "label: problem" line per troubled account, "\n"-separated; NULL: none. */
char *gw_oauth_degraded(struct gw_oauth_store *store, struct gw_arena *arena);
/* /metrics: the accounts' refresh counters and states in Prometheus text ("" when none). */
char *gw_oauth_metrics(struct gw_oauth_store *store, struct gw_arena *arena);

#endif
