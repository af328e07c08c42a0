/*
 * The receiver of a delivery: the transport it goes through, named so that
 * the outbox can tell when one is away and when it is back (db/0066,
 * intake_outbox_record). An SMTP delivery's receiver is the configured
 * server; an HTTP delivery's is its URL's scheme, host and port (an SMS
 * provider, a webhook endpoint), never its path, query or credentials: the
 * name is kept on waiting rows and must carry no personal data. Channels are
 * not named: two channels posting to one host share its fate.
 */
#include "outbox_private.h"

#include <curl/curl.h>
#include <stdio.h>

#include "gw_config.h"

/* scheme://host:port of an HTTP URL (the scheme's port when it names none). */
static bool http_origin(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        int n = snprintf(out, cap, "%s://%s:%s", scheme, host, port);
        ok = n > 0 && (size_t)n < cap;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

bool outbox_receiver_name(const struct gw_config *cfg, const struct gw_delivery *d, char *out,
                          size_t cap)
{
    if (d->kind == GW_DELIVER_SMTP && cfg->smtp_hostport) {
        int n = snprintf(out, cap, "smtp://%s", cfg->smtp_hostport);
        return n > 0 && (size_t)n < cap;
    }
    if (d->kind == GW_DELIVER_HTTP_POST && d->url)
        return http_origin(d->url, out, cap);
    return false;
}

/*
 * How long a receiver away waits for its next probe: outbox.probe_seconds,
 * or four times what the failed try took when that was longer. A receiver
 * that swallows connections costs a timeout per try, on the one thread
 * that delivers everything: probing it at most a fifth of the time leaves
 * the rest to receivers that answer.
 */
double outbox_probe_after(const struct gw_config *cfg, double took_s)
{
    double after = 4 * took_s;
    return after > cfg->outbox_probe_s ? after : cfg->outbox_probe_s;
}
