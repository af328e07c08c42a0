/*
 * The channel interface. Each adapter under channels/ exports one constant
 * struct gw_channel; the build generates the list of them (gw_channels), and
 * the core reaches a channel only through this table, never by name. An
 * adapter's functions are pure: they turn a request into a contact or a
 * rejection, and a result or an acknowledgement into bytes to send. The core
 * does all I/O (HTTP serving, database, outbound delivery).
 */
#ifndef GW_CHANNEL_H
#define GW_CHANNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_arena.h"
#include "gw_contact.h"
#include "gw_error.h"
#include "gw_job.h"

struct gw_config;
struct gw_poll_ctx;
struct gw_problems;

/* One HTTP request as the core received it; body capped by the route's limit. */
struct gw_http_request {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* without the query string */
    const char *query;        /* NULL when absent */
    const char *content_type; /* NULL when absent */
    const unsigned char *body;
    size_t body_len;
    /* Any request header by lower-case name; an arena-owned copy or NULL. */
    const char *(*header)(const struct gw_http_request *req, const char *name);
    void *header_ctx; /* the core's, for header() */
    const struct gw_config *config;
};

/* What to send back. Strings are arena-owned or static. */
struct gw_http_reply {
    int status;
    const char *content_type;
    const char *body;
    size_t body_len;
    int retry_after_s; /* > 0 adds Retry-After */
    const char *www_authenticate;
    const char *cache_control; /* NULL: no Cache-Control header */
};

/*
 * Who may call a route; the core checks this before the adapter sees the
 * body. GW_AUTH_BEARER: some bearer token must be given, and the route
 * itself decides whether it is good (an agent's token is checked in the
 * database); its 401 answers count as failed tokens like the core's.
 */
enum gw_route_auth { GW_AUTH_NONE, GW_AUTH_API_TOKEN, GW_AUTH_BEARER };

/*
 * Whether a route's contacts may wait in the gateway's local spool while the
 * database cannot be reached (src/gw_spool.h): for senders that never retry
 * (phone systems' webhooks). GW_SPOOL_BY_DEFAULT: unless spool.channels
 * leaves the route's channel out; GW_SPOOL_ON_REQUEST: when spool.channels
 * names it. The contact is spooled only once parse accepted it (its
 * signature or token checked), and respond then sees result.spooled.
 */
enum gw_route_spool { GW_SPOOL_NEVER, GW_SPOOL_BY_DEFAULT, GW_SPOOL_ON_REQUEST };

struct gw_route {
    const char *method;
    const char *path;
    /* path ends in '/' and the route takes every non-empty path below it (a token). */
    bool path_prefix;
    enum gw_route_auth auth;
    size_t max_body; /* bytes; 0: limits.max_body_bytes */
    /*
     * Parse on a worker thread instead of the event loop (large inputs such
     * as mail). The request the parser sees then carries only the
     * Content-Type and Authorization headers, and its body is an arena copy
     * that the contact may point into.
     */
    bool parse_off_loop;
    enum gw_route_spool spool;
    /*
     * Builds a contact from the request into *contact and returns GW_OK, or
     * fills *reply (a 4xx with a reason) and returns an error. NULL hook: the
     * route answers without registering (see answer).
     */
    enum gw_err (*parse)(const struct gw_http_request *req, struct gw_arena *arena,
                         struct gw_contact *contact, struct gw_http_reply *reply);
    /*
     * For routes without parse: fills *reply at once (static pages) and
     * returns false, or fills *job with a database operation to run and
     * returns true; respond then builds the reply from the job's result.
     */
    bool (*answer)(const struct gw_http_request *req, struct gw_arena *arena,
                   struct gw_intake_job *job, struct gw_http_reply *reply);
    /* The reply once registration finished, successfully or not. */
    void (*respond)(const struct gw_intake_result *result, struct gw_arena *arena,
                    struct gw_http_reply *reply);
};

/* An acknowledgement rendered for one of the core's senders. */
enum gw_delivery_kind {
    GW_DELIVER_NONE,      /* nothing to send on this channel (e.g. no callback given) */
    GW_DELIVER_HTTP_POST, /* POST body to url */
    GW_DELIVER_SMTP,      /* send message over SMTP from mail_from to rcpt_to */
};

struct gw_delivery {
    enum gw_delivery_kind kind;
    const char *why_none; /* GW_DELIVER_NONE: why, recorded with the row */
    /* HTTP */
    const char *url;
    const char *content_type;
    const char *body;
    size_t body_len;
    const char *basic_auth; /* "user:password" for HTTP Basic authentication, or NULL */
    const char *signature;  /* an X-Intake-Signature value (gw_sign.h), or NULL */
    /* SMTP */
    const char *mail_from; /* envelope sender (bare address) */
    const char *rcpt_to;   /* envelope recipient (bare address) */
    const char *message;   /* the whole RFC 5322 message, CRLF line ends, NUL-terminated */
    /*
     * Once sent, the message is recorded on the ticket as an outbound message
     * with this id, so that replies to it thread (NULL: not recorded).
     */
    const char *record_ref;
    const char *record_subject;
    const char *record_text;
    /* At most this many acknowledgements per reply handle per hour; 0: no limit. */
    int per_recipient_per_hour;
};

/* A subcommand of `intake` a channel provides (e.g. an MTA pipe). */
struct gw_command {
    const char *name;
    const char *summary; /* one line for `intake --help` */
    /* argv[0] is the command's name; returns the process exit status. */
    int (*run)(int argc, char **argv, const struct gw_config *cfg);
};

/*
 * A database operation of an adapter: one SQL function (db/functions/) that
 * takes a JSON document and answers one, run as SELECT function($1::jsonb).
 * The core prepares a statement for every row of every adapter's table on
 * each connection it runs jobs on (a registration worker's, the poller's),
 * so an operation costs no more than the core's own statements and no round
 * trip to plan. A job names the operation it runs by the row's address
 * (gw_intake_job.operation): the row is the adapter's, the core knows none
 * by name.
 */
struct gw_operation {
    const char *name;     /* the prepared statement's name, unique among all adapters' */
    const char *function; /* the SQL function it calls */
    /*
     * For an operation that registers the adapter's contacts
     * (gw_contact.registered_by): the same function over a JSON array of
     * documents, answering one row each, so that a batch's run of such
     * contacts is one statement (also the statement's name; NULL: one
     * statement each), and what the adapter adds to a contact's
     * registration document from its detail (NULL: nothing).
     */
    const char *function_many;
    void (*describe)(const struct gw_contact *contact, json_t *doc);
    /*
     * Slow work (a customer's whole export, an erase, a period's report):
     * run by the intake's worker of its own with a connection of its own,
     * one at a time, never batched with registrations, so that a query of
     * seconds holds up no contact.
     */
    bool own_lane;
    /*
     * An agent's reading (the ticket view, lists, search): run by a worker
     * of its own, never batched with registrations, on a connection whose
     * commits do not wait for the WAL flush (synchronous_commit off). Such
     * an operation's answer waits neither for a batch of contacts nor for
     * the disk. What it writes is kept unless the database server itself
     * crashes within about 0.6 s of the commit (three wal_writer_delay;
     * any later durable commit on the server flushes it sooner): only an
     * operation whose writes may be lost that way sets this (a view's
     * audit row, docs/operations.md "Privacy at size").
     */
    bool read_lane;
    /*
     * Heavy work on a committed answer, run by the intake's worker rather
     * than on the event loop (an export's zip, a report's rendering): may
     * replace result->document, or set result->body, body_len and
     * content_type (the reply's body as it is), allocating from arena (the
     * job's). NULL: nothing to do.
     */
    void (*finish)(struct gw_intake_result *result, struct gw_arena *arena);
};

struct gw_socket_route;
struct pg_conn; /* libpq's PGconn */

struct gw_channel {
    const char *name; /* stored with every message; stable */
    const struct gw_route *routes;
    size_t n_routes;
    const struct gw_socket_route *socket_routes; /* WebSocket endpoints (gw_socket.h) */
    size_t n_socket_routes;
    const struct gw_command *commands;
    size_t n_commands;
    const struct gw_operation *operations; /* what its jobs run in the database */
    size_t n_operations;
    /* Once per process before any other hook (library set-up); NULL: nothing to do. */
    enum gw_err (*init)(void);
    /*
     * Checks the channel's section of the configuration ("channels": {name:
     * {...}}, possibly NULL) and adds every problem found; NULL: no settings.
     */
    void (*check_config)(const json_t *section, struct gw_problems *problems);
    /*
     * Settings the adapter owns outside "channels", by path: whole sections
     * of the file ("section") or members of the core's sections
     * ("section.key"); NULL-ended. The core's check for unknown settings lets
     * them through, and load_settings reads them from the whole file (root:
     * the file over the core's defaults, which hold none of them, so the
     * adapter has its own), adds every problem it finds and returns its
     * settings, the configuration's until gw_config_free calls
     * free_settings; gw_config_settings() hands them back. cfg holds the
     * core's settings, loaded already. NULL: none.
     */
    const char *const *settings_paths;
    void *(*load_settings)(const json_t *root, const struct gw_config *cfg,
                           struct gw_problems *problems);
    void (*free_settings)(void *settings);
    /*
     * Drains the channel's sources (mailboxes), on the poller thread; returns
     * the seconds until it wants to run again (0: no sources). NULL: none.
     */
    int (*poll)(struct gw_poll_ctx *ctx);
    /*
     * Database upkeep that must follow registrations closely but stay out of
     * them (the desk's search index), on the outbox dispatcher's connection
     * after each of its passes (a registration kicks the dispatcher). Returns
     * how many rows it handled; max, when there may be more at once. NULL: none.
     */
    int (*tend)(struct pg_conn *conn, const struct gw_config *cfg, int max);
    /*
     * Renders the acknowledgement of a registered contact for delivery. ack is
     * the outbox payload (ticket, customer, priority, language, reply_handle ...).
     */
    enum gw_err (*render_ack)(const json_t *ack, const struct gw_config *cfg,
                              struct gw_arena *arena, struct gw_delivery *out);
    /*
     * The kinds of customer address this channel can carry a message to
     * (NULL-ended; NULL: none), and how: reply is the outbox payload (ticket,
     * text, agent, name, language, subject, and "to": the address). A
     * payload holds the customer's addresses by kind (a member named after
     * the kind) and "prefer", the kind the ticket came in by. The outbox
     * tries that kind first, then the kinds in the order of gw_channels[],
     * and the first channel that carries a kind the customer has an address
     * of sends the message: a customer who left a live session is answered
     * by whatever reaches them.
     */
    const char *const *address_kinds;
    enum gw_err (*render_reply)(const json_t *reply, const struct gw_config *cfg,
                                struct gw_arena *arena, struct gw_delivery *out);
    /*
     * Outbox rows of these kinds (NULL-ended), written by the adapter's SQL
     * functions, are its notices to a customer (an invitation, a reminder), and
     * render_notice words one: it sets the payload's "text" and "title",
     * and when the payload names a live session ("session") the customer
     * may still be in, *event (a JSON object, the caller's) to post there.
     * The outbox posts the event while the session is open, else sends the
     * payload, marked "notice", to the customer's address as it sends an
     * agent's reply (address_kinds). NULL: none.
     */
    const char *const *notice_kinds;
    enum gw_err (*render_notice)(json_t *payload, const struct gw_config *cfg,
                                 struct gw_arena *arena, json_t **event);
};

/* NULL-terminated, generated by the build from the channels/ folders. */
extern const struct gw_channel *const gw_channels[];

const struct gw_channel *gw_channel_find(const char *name);
/* Runs every channel's init hook; GW_OK when all succeeded. */
GW_MUST_USE enum gw_err gw_channels_init(void);

#endif
