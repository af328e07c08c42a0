/*
 * SMTP delivery through libesmtp. The session is built and torn down per
 * message: the dispatcher sends few, and a fresh session never inherits a
 * half-broken connection. Credentials reach libesmtp through its interaction
 * callback and are never logged.
 */
#include "gw_smtp_send.h"

/* OpenSSL first: libesmtp declares smtp_starttls_set_ctx() only when it sees it. */
#include <openssl/ssl.h>

#include <auth-client.h>
#include <libesmtp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gw_config.h"

#define SMTP_TIMEOUT_MS 20000

void gw_smtp_init(void)
{
    auth_client_init();
}

int gw_smtp_configured(const struct gw_config *cfg)
{
    return cfg->smtp_hostport != NULL;
}

struct credentials {
    const char *user, *password;
};

static int interact(auth_client_request_t request, char **result, int fields, void *arg)
{
    const struct credentials *cred = arg;
    for (int i = 0; i < fields; i++) {
        if (request[i].flags & AUTH_USER)
            result[i] = (char *)cred->user;
        else if (request[i].flags & AUTH_PASS)
            result[i] = (char *)cred->password;
        else
            return 0;
    }
    return 1;
}

static void set_why(char *why, size_t n, const char *what, const smtp_status_t *st)
{
    if (st && st->code)
        snprintf(why, n, "%s: %d %s", what, st->code, st->text ? st->text : "");
    else {
        char buf[128];
        snprintf(why, n, "%s: %s", what, smtp_strerror(smtp_errno(), buf, sizeof(buf)));
    }
    /* Server texts end in CRLF; keep the reason on one line. */
    why[strcspn(why, "\r\n")] = '\0';
}

/*
 * No answer at all, or 421 (the server closing: it cannot take mail now):
 * the server is away, not refusing this message.
 */
static bool server_away(const smtp_status_t *st)
{
    return !st || st->code == 0 || st->code == 421;
}

enum gw_err gw_smtp_send(const struct gw_config *cfg, const char *mail_from, const char *rcpt_to,
                         const char *message, char *why, size_t why_len)
{
    if (!cfg->smtp_hostport) {
        snprintf(why, why_len, "no SMTP server configured");
        return GW_ERR_CONFIG;
    }
    if (cfg->smtp_xoauth2)
        return gw_smtp_send_xoauth2(cfg, mail_from, rcpt_to, message, why, why_len);
    smtp_session_t session = smtp_create_session();
    if (!session) {
        snprintf(why, why_len, "out of memory");
        return GW_ERR_NOMEM;
    }
    auth_context_t auth = NULL;
    struct credentials cred = {cfg->smtp_user, cfg->smtp_password};
    enum gw_err err = GW_ERR_DELIVERY;
    smtp_set_server(session, cfg->smtp_hostport);
    /* A private CA (ca_file): our own verifying context; libesmtp borrows it. */
    SSL_CTX *tls = NULL;
    if (cfg->smtp_ca_file) {
        tls = SSL_CTX_new(TLS_client_method());
        if (!tls || SSL_CTX_load_verify_locations(tls, cfg->smtp_ca_file, NULL) != 1) {
            snprintf(why, why_len, "cannot load smtp.ca_file");
            SSL_CTX_free(tls);
            smtp_destroy_session(session);
            return GW_ERR_CONFIG;
        }
        SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
        smtp_starttls_set_ctx(session, tls);
    }
    smtp_starttls_enable(session, cfg->smtp_starttls == 2   ? Starttls_REQUIRED
                                  : cfg->smtp_starttls == 1 ? Starttls_ENABLED
                                                            : Starttls_DISABLED);
    for (int t = Timeout_GREETING; t <= Timeout_DATA2; t++)
        smtp_set_timeout(session, t | Timeout_OVERRIDE_RFC2822_MINIMUM, SMTP_TIMEOUT_MS);
    if (cfg->smtp_user) {
        auth = auth_create_context();
        auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb(auth, interact, &cred);
        smtp_auth_set_context(session, auth);
    }
    smtp_message_t msg = smtp_add_message(session);
    smtp_recipient_t rcpt = msg ? smtp_add_recipient(msg, rcpt_to) : NULL;
    if (!msg || !rcpt || !smtp_set_reverse_path(msg, mail_from) ||
        !smtp_set_message_str(msg, (void *)message)) {
        snprintf(why, why_len, "cannot set up the SMTP message");
        goto out;
    }
    if (!smtp_start_session(session)) {
        set_why(why, why_len, "SMTP session failed", NULL);
        err = GW_ERR_UNREACHABLE;
        goto out;
    }
    const smtp_status_t *rs = smtp_recipient_status(rcpt);
    const smtp_status_t *ms = smtp_message_transfer_status(msg);
    const smtp_status_t *bad = NULL;
    if (!rs || rs->code < 200 || rs->code > 299)
        set_why(why, why_len, "recipient refused", bad = rs);
    else if (!ms || ms->code < 200 || ms->code > 299)
        set_why(why, why_len, "message refused", bad = ms);
    else
        err = GW_OK;
    if (err != GW_OK && server_away(bad))
        err = GW_ERR_UNREACHABLE;
out:
    smtp_destroy_session(session);
    if (auth)
        auth_destroy_context(auth);
    SSL_CTX_free(tls);
    return err;
}
