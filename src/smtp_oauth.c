/*
 * Outbound mail from an account that takes no password (Microsoft 365,
 * Gmail), through libcurl's SMTP: libesmtp knows no XOAUTH2 and takes new
 * SASL mechanisms only as plugins loaded from its own folder, fed by the
 * user/password interaction callback, while libcurl, which the gateway links
 * already for IMAP, speaks XOAUTH2 and OAUTHBEARER (whichever the server
 * offers), STARTTLS and certificate checks the same way the IMAP poller
 * does. docs/email.md says more. One session per message, as with libesmtp.
 * A refused access token is reported to the token store and the message
 * tried once more with a fresh one. A refused recipient or sender is a
 * refusal of this message (libcurl stops at the first refused RCPT), told
 * apart by the SMTP step that failed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_http_send.h"
#include "gw_oauth.h"
#include "gw_smtp_send.h"

#define SEND_TIMEOUT_S 60L

struct upload {
    const char *data;
    size_t left;
};

static size_t read_message(char *buf, size_t size, size_t n, void *user)
{
    struct upload *u = user;
    size_t take = size * n < u->left ? size * n : u->left;
    memcpy(buf, u->data, take);
    u->data += take;
    u->left -= take;
    return take;
}

static long ssl_mode(int starttls)
{
    return starttls == 2   ? (long)CURLUSESSL_ALL
           : starttls == 1 ? (long)CURLUSESSL_TRY
                           : (long)CURLUSESSL_NONE;
}

/* One SMTP session with bearer; errbuf gets curl's words on failure. */
static CURLcode session(const struct gw_config *cfg, const char *bearer, const char *mail_from,
                        const char *rcpt_to, const char *message, char *errbuf, long *code)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return CURLE_OUT_OF_MEMORY;
    char url[300], from[400], to[400];
    snprintf(url, sizeof(url), "smtp://%s", cfg->smtp_hostport);
    snprintf(from, sizeof(from), "<%s>", mail_from);
    snprintf(to, sizeof(to), "<%s>", rcpt_to);
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    struct upload up = {message, strlen(message)};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp");
    curl_easy_setopt(curl, CURLOPT_USE_SSL, ssl_mode(cfg->smtp_starttls));
    if (cfg->smtp_ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->smtp_ca_file);
    curl_easy_setopt(curl, CURLOPT_USERNAME, cfg->smtp_user);
    curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, bearer);
    /* Only the token mechanisms: never fall back to sending the token as a password. */
    curl_easy_setopt(curl, CURLOPT_LOGIN_OPTIONS, "AUTH=OAUTHBEARER;AUTH=XOAUTH2");
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
    errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(curl);
    *code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    return rc;
}

static void set_why(char *why, size_t why_len, CURLcode rc, const char *errbuf, long code)
{
    const char *what = !strncmp(errbuf, "RCPT", 4)   ? "recipient refused"
                       : !strncmp(errbuf, "MAIL", 4) ? "sender refused"
                                                     : "SMTP session failed";
    snprintf(why, why_len, "%s: %s (%ld)", what, *errbuf ? errbuf : curl_easy_strerror(rc), code);
    why[strcspn(why, "\r\n")] = '\0';
}

enum gw_err gw_smtp_send_xoauth2(const struct gw_config *cfg, const char *mail_from,
                                 const char *rcpt_to, const char *message, char *why,
                                 size_t why_len)
{
    struct gw_oauth_account *account = gw_oauth_account(cfg->oauth, cfg->smtp_oauth, "smtp", true);
    if (!account) {
        snprintf(why, why_len, "out of memory");
        return GW_ERR_NOMEM;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        char *bearer = NULL;
        enum gw_err err = gw_oauth_token(account, &bearer, why, why_len);
        if (err != GW_OK)
            return GW_ERR_DELIVERY; /* kept for retry; the store logs the condition once */
        char errbuf[CURL_ERROR_SIZE];
        long code = 0;
        CURLcode rc = session(cfg, bearer, mail_from, rcpt_to, message, errbuf, &code);
        bool refused = rc == CURLE_LOGIN_DENIED;
        /* Past AUTH (sent, or refused at MAIL/RCPT), the token was taken. */
        if (refused || rc == CURLE_OK || !strncmp(errbuf, "RCPT", 4) || !strncmp(errbuf, "MAIL", 4))
            gw_oauth_report(account, bearer, !refused);
        free(bearer);
        if (rc == CURLE_OK)
            return GW_OK;
        set_why(why, why_len, rc, errbuf, code);
        if (code == 421 || (code == 0 && gw_curl_unreachable(rc)))
            return GW_ERR_UNREACHABLE; /* the server away, as in gw_smtp_send */
        if (!refused)
            return GW_ERR_DELIVERY;
    }
    return GW_ERR_DELIVERY;
}
