/*
 * Configuration: built-in defaults, overlaid by one JSON file, overlaid by
 * environment variables (INTAKE_DATABASE_URL, INTAKE_LISTEN, INTAKE_PUBLIC_URL,
 * INTAKE_API_TOKEN). Loading collects every problem instead of stopping at the
 * first, so `intake check-config` can list them all. A loaded config is
 * immutable and shared read-only by all threads.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_error.h"

enum gw_priority { GW_PRIO_URGENT, GW_PRIO_IMPORTANT, GW_PRIO_NORMAL, GW_PRIO__COUNT };

const char *gw_priority_name(enum gw_priority p);

struct gw_sla {
    int first_response_s; /* first human answer due */
    int handling_s;       /* handling must start within */
};

struct gw_category {
    char *name;  /* e.g. aftersale.fault.software */
    char *queue; /* queue its tickets go to */
    enum gw_priority min_priority;
    char **keywords; /* matched case-insensitively; ASCII words on word boundaries */
    size_t n_keywords;
};

struct gw_config {
    char *database_url;
    char *listen_host;
    int listen_port;
    char *public_url;
    char *api_token; /* NULL when unset */

    /*
     * Registration threads, each with one connection. "workers": 0 in the
     * file means half the CPUs, at least one: on a small machine that also
     * runs PostgreSQL, one backend committing large batches back to back
     * beats two contending for the same cores (bench/README.md has figures).
     */
    int db_workers;
    int db_batch_max;          /* most contacts committed together */
    int queue_max;             /* jobs waiting before new ones get 503 */
    size_t max_body;           /* bytes accepted in one request body */
    int rate_per_client;       /* requests/s per client address on channel routes; 0: off */
    int rate_burst;            /* requests a client may send at once */
    int auth_failures_per_min; /* failed tokens per client address before 429; 0: off */
    int socket_idle_s;         /* a silent WebSocket is pinged at half this, closed at all */

    char *ticket_prefix;
    char *customer_prefix;

    struct gw_category *categories; /* in precedence order: first match wins */
    size_t n_categories;
    size_t default_category; /* index used when nothing matches */
    char **priority_keywords[GW_PRIO__COUNT];
    size_t n_priority_keywords[GW_PRIO__COUNT];

    struct gw_sla sla[GW_PRIO__COUNT];
    int resolve_s[3]; /* resolution due per escalation level 1..3 */
    int respond_s[3]; /* first response due once escalated to level 1..3 */
    /*
     * "business_hours": the calendar SLA clocks run on, as the compact JSON
     * the database functions read ({"tz", "days", "start", "end",
     * "holidays"}); NULL: 24x7. Its days and holidays also define working
     * days (Monday to Friday when NULL).
     */
    char *business_hours;

    /*
     * "queues": {name: {"webhook_url", "webhook_secret"}}: teams that work in
     * another tool get their queue's agent events POSTed there, signed.
     */
    struct gw_queue_hook {
        char *queue, *url, *secret;
    } * queue_hooks;
    size_t n_queue_hooks;

    int outbox_max_attempts;
    int outbox_backoff_s; /* first retry delay; doubles per attempt */
    int outbox_poll_ms;
    int outbox_lease_s; /* a claimed row returns to the pool after this */
    int outbox_probe_s; /* a receiver away is tried with one waiting row this often */

    /* "smtp": outbound mail; NULL host: not configured (deliveries by SMTP are skipped). */
    char *smtp_hostport; /* "host:port" from smtp://host:port */
    int smtp_starttls;   /* 0 no, 1 if offered, 2 required */
    char *smtp_user, *smtp_password;
    char *smtp_ca_file; /* CA certificates to verify the server with; NULL: the system's */
    /* "smtp.auth": "xoauth2" sends with an access token from "smtp.oauth" (gw_oauth.h). */
    int smtp_xoauth2;
    void *smtp_oauth; /* the "smtp.oauth" settings (a json_t object), owned; NULL: none */
    /*
     * The access tokens of OAuth2 mail accounts (gw_oauth.h): the one mutable
     * part of a configuration, locked inside, made with it and freed with it.
     */
    struct gw_oauth_store *oauth;

    /*
     * "spool": where contacts of senders that never retry wait while the
     * database cannot be reached (src/gw_spool.h). spool_dir NULL: no spool.
     * spool_channels_set false: the routes that spool by default
     * (GW_SPOOL_BY_DEFAULT); else the routes of these channels that can.
     */
    char *spool_dir;
    size_t spool_max_bytes;
    int spool_max_age_s;
    bool spool_channels_set;
    char **spool_channels;
    size_t n_spool_channels;

    /*
     * "tls": the gateway's own HTTPS/WSS (src/gw_tls.h). Both NULL: plain
     * HTTP, for a proxy that terminates TLS in front; never one without the other.
     */
    char *tls_cert_file; /* PEM: the certificate, then its intermediates */
    char *tls_key_file;  /* PEM, unencrypted; its path may be logged, never its content */

    /* "channels": {name: {...}}: each channel's own settings, read by that channel. */
    void *channels; /* a json_t object (jansson), owned by the config */
    /*
     * What each adapter's load_settings made of its settings outside
     * "channels" (gw_channel.h), in gw_channels[] order; owned by the config.
     */
    void **adapter_settings;

    /* "log" and the proxy settings of "server" (gw_log.h, src/client_address.c). */
    int log_format;         /* enum gw_log_format */
    int log_level;          /* enum gw_log_level: lines below it are not written */
    char **trusted_proxies; /* addresses or CIDRs whose X-Forwarded-For is believed */
    size_t n_trusted_proxies;
};

/* The webhook of a queue, or NULL. */
const struct gw_queue_hook *gw_config_queue_hook(const struct gw_config *cfg, const char *queue);

/* The channel's settings object (a const json_t *), or NULL when it has none. */
const void *gw_config_channel(const struct gw_config *cfg, const char *channel);
/* What the adapter's load_settings returned (its own struct), or NULL. */
const void *gw_config_settings(const struct gw_config *cfg, const char *adapter);

/* Every problem found while loading, as "path: what is wrong" lines. */
struct gw_problems {
    char **items;
    size_t n;
};

void gw_problems_add(struct gw_problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gw_problems_clear(struct gw_problems *p);
/* Adds "<where>.<key>: unknown setting" for each key of a JSON object not in known (NULL-ended). */
void gw_problems_unknown_keys(struct gw_problems *p, const void *object, const char *const *known,
                              const char *where);

/*
 * Loads defaults + path (NULL: defaults only) + environment. On GW_OK *out is
 * the caller's (free with gw_config_free); on GW_ERR_CONFIG problems says why.
 */
GW_MUST_USE enum gw_err gw_config_load(const char *path, struct gw_config **out,
                                       struct gw_problems *problems);
/* The same from a JSON text instead of a file (tests, embedded defaults). */
GW_MUST_USE enum gw_err gw_config_load_text(const char *json_text, struct gw_config **out,
                                            struct gw_problems *problems);
void gw_config_free(struct gw_config *cfg);

/* The built-in defaults as JSON text. */
extern const char gw_config_defaults[];

#endif
