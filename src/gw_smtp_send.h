/*
 * Outbound mail for the dispatcher, with libesmtp: one session per message,
 * STARTTLS and AUTH as configured ("smtp" in the config, INTAKE_SMTP_URL,
 * INTAKE_SMTP_USER, INTAKE_SMTP_PASSWORD). Success means the server accepted
 * both the recipient and the message: libesmtp reports a finished session
 * even when the recipient was refused, so each status is checked.
 */
#ifndef GW_SMTP_SEND_H
#define GW_SMTP_SEND_H

#include <stddef.h>

#include "gw_error.h"

struct gw_config;

/* Once per process, before the first send (libesmtp's SASL client). */
void gw_smtp_init(void);

/* True when an SMTP server is configured. */
int gw_smtp_configured(const struct gw_config *cfg);

/*
 * GW_ERR_UNREACHABLE when the server could not be reached (no session) or
 * said it cannot take mail now (421); GW_ERR_DELIVERY when it answered and
 * refused the recipient or the message.
 */
GW_MUST_USE enum gw_err gw_smtp_send(const struct gw_config *cfg, const char *mail_from,
                                     const char *rcpt_to, const char *message, char *why,
                                     size_t why_len);

/*
 * The same for an account that takes no password (smtp.auth "xoauth2"):
 * libcurl's SMTP with an OAuth2 access token (smtp_oauth.c); gw_smtp_send
 * hands over to it.
 */
GW_MUST_USE enum gw_err gw_smtp_send_xoauth2(const struct gw_config *cfg, const char *mail_from,
                                             const char *rcpt_to, const char *message, char *why,
                                             size_t why_len);

#endif
