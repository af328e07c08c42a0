/*
 * The HTTP request path: a request is read into a per-request arena (body
 * capped by its route's limit, or limits.max_body_bytes), matched against
 * the built-in endpoints and every channel's routes, checked for its token
 * and its client's rate, parsed by the channel into a contact and handed to
 * the intake workers. The reply is written only when the worker reports the
 * commit, so "2xx" always means "stored". A client that hangs up early
 * orphans its job; the job's arena is freed when the worker hands it back.
 *
 * All of it is one lws protocol row (gw_http_protocol), called on the loop
 * that server.c creates, turns and drains: this file is what one request
 * goes through, and nothing of the loop's lifetime. The row also takes the
 * loop's wake-ups (a worker's lws_cancel_service), which is where finished
 * jobs are collected and handed back to their sessions or sockets.
 */
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_intake.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_client_address.h"
#include "gw_oauth.h"
#include "gw_ratelimit.h"
#include "gw_reply.h"
#include "gw_spool.h"
#include "server_private.h"

#define PATH_MAX_LEN  512
#define HEADER_MAX    8192
#define HEADERS_SPACE 1024

enum builtin { BUILTIN_NONE, BUILTIN_HEALTH, BUILTIN_READY, BUILTIN_METRICS };

struct session {
    struct job_owner owner; /* first: a job's owner points here */
    struct lws *wsi;
    struct gw_arena *arena; /* this request's; NULL between requests */
    const struct gw_route *route;
    enum builtin builtin;
    char method[8];
    char path[PATH_MAX_LEN];
    const char *query; /* arena-owned, NULL when the URL has none */
    unsigned char *body;
    size_t body_len, body_cap;
    int early_status; /* a rejection decided before the body: 401, 403, 404, 405, 429 */
    int early_retry_s;
    int close_after; /* the body was not read to its end: close after replying */
    int counted;     /* counted in open_requests */
    struct gw_intake_job *job;
    struct gw_http_reply reply;
    int reply_ready;
    char request_id[GW_REQUEST_ID_SIZE]; /* echoed as X-Request-Id, named in log lines */
};

static struct gw_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void end_request(struct gw_server *srv, struct session *s)
{
    if (s->job) {
        /* The worker still holds the job: let it take the arena with it. */
        s->job->owner = NULL;
        s->job = NULL;
        s->arena = NULL;
    }
    gw_arena_destroy(s->arena);
    s->arena = NULL;
    free(s->body);
    s->body = NULL;
    s->body_len = s->body_cap = 0;
    s->route = NULL;
    s->builtin = BUILTIN_NONE;
    s->early_status = 0;
    s->early_retry_s = 0;
    s->reply_ready = 0;
    s->request_id[0] = '\0';
    memset(&s->reply, 0, sizeof(s->reply));
    if (s->counted) {
        s->counted = 0;
        srv->open_requests--;
    }
}

static void send_reply(struct session *s)
{
    s->reply_ready = 1;
    lws_callback_on_writable(s->wsi);
}

static void reply_error(struct session *s, int status, const char *msg, const char *field)
{
    gw_reply_error(&s->reply, s->arena, status, msg, field);
    send_reply(s);
}

static const char *method_name(struct lws *wsi)
{
    static const char *const names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"};
    char *uri;
    int len;
    int m = lws_http_get_uri_and_method(wsi, &uri, &len);
    return m >= 0 && (size_t)m < sizeof(names) / sizeof(names[0]) ? names[m] : NULL;
}

/* Finds the route for (method, path); *path_known says whether any method matched. */
static const struct gw_route *find_route(const char *method, const char *path, int *path_known)
{
    *path_known = 0;
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        for (size_t i = 0; i < (*c)->n_routes; i++) {
            const struct gw_route *r = &(*c)->routes[i];
            if (r->path_prefix ? strncmp(r->path, path, strlen(r->path)) || !path[strlen(r->path)]
                               : strcmp(r->path, path))
                continue;
            *path_known = 1;
            if (!strcmp(r->method, method))
                return r;
        }
    return NULL;
}

static int token_status(struct gw_server *srv, struct lws *wsi)
{
    char auth[512];
    int n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0)
        return 401;
    if (strncasecmp(auth, "Bearer ", 7) || !srv->cfg->api_token)
        return 403;
    const char *given = auth + 7;
    size_t gl = strlen(given), wl = strlen(srv->cfg->api_token);
    /* Constant time over the expected token so timing says nothing about it. */
    if (gl != wl || CRYPTO_memcmp(given, srv->cfg->api_token, wl) != 0)
        return 403;
    return 0;
}

static const char *header_lookup(const struct gw_http_request *req, const char *name)
{
    struct session *s = req->header_ctx;
    static const struct {
        const char *name;
        enum lws_token_indexes token;
    } known[] = {{"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
                 {"content-type", WSI_TOKEN_HTTP_CONTENT_TYPE},
                 {"user-agent", WSI_TOKEN_HTTP_USER_AGENT},
                 {"host", WSI_TOKEN_HOST},
                 {"accept", WSI_TOKEN_HTTP_ACCEPT}};
    char buf[HEADER_MAX];
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(known[i].name, name)) {
            int n = lws_hdr_copy(s->wsi, buf, sizeof(buf), known[i].token);
            return n > 0 ? gw_arena_strndup(s->arena, buf, (size_t)n) : NULL;
        }
    /* lws keeps other headers by their raw "name:" */
    char key[128];
    int kl = snprintf(key, sizeof(key), "%s:", name);
    if (kl <= 0 || (size_t)kl >= sizeof(key))
        return NULL;
    int n = lws_hdr_custom_copy(s->wsi, buf, sizeof(buf), key, kl);
    return n >= 0 ? gw_arena_strndup(s->arena, buf, (size_t)n) : NULL;
}

/* A token the route (or the database behind it) refused: guessing must stay slow. */
static void count_auth_failure(struct gw_server *srv, struct lws *wsi)
{
    char client[64];
    gw_client_address(wsi, srv->cfg, client, sizeof(client));
    gw_ratelimit_auth_failed(srv->limits, client, gw_server_now());
}

/*
 * A channel that refused the request's credentials itself (a webhook's
 * signature or token: 401 or 403) counts them as a failed guess, like a
 * refused API token.
 */
static void count_refused_credentials(struct gw_server *srv, struct session *s)
{
    if (s->reply.status == 401 || s->reply.status == 403)
        count_auth_failure(srv, s->wsi);
}

/*
 * Whether a route takes credentials: a token of ours, or a signature or
 * token its channel checks (phone webhooks register contacts: parse). Public
 * pages (the chat page and widget, the console's page, survey pages) take
 * none.
 */
static bool takes_credentials(const struct gw_route *route)
{
    return route->auth != GW_AUTH_NONE || route->parse != NULL;
}

/*
 * Limits per client address: a request rate on every route, and a cap on
 * failed credentials so that guessing is slow. The cap holds back only
 * routes that take credentials: customers behind one office or carrier NAT
 * share an address with whoever guesses there, and the public pages stay
 * theirs (the request rate still limits them). Sets early_status 429 or the
 * token's 401/403.
 */
static void check_client(struct gw_server *srv, struct session *s, struct lws *wsi)
{
    char client[64];
    gw_client_address(wsi, srv->cfg, client, sizeof(client));
    double now = gw_server_now();
    int retry = 0;
    if (!gw_ratelimit_allow(srv->limits, client, now, &retry) ||
        (takes_credentials(s->route) &&
         !gw_ratelimit_auth_allowed(srv->limits, client, now, &retry))) {
        s->early_status = 429;
        s->early_retry_s = retry;
        return;
    }
    if (s->route->auth == GW_AUTH_API_TOKEN) {
        s->early_status = token_status(srv, wsi);
        if (s->early_status)
            gw_ratelimit_auth_failed(srv->limits, client, now);
    } else if (s->route->auth == GW_AUTH_BEARER &&
               lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0) {
        s->early_status = 401;
    }
}

/*
 * The query string, from lws's argument fragments joined again with '&'
 * (lws keeps them apart, and already decoded).
 */
static const char *query_of(struct lws *wsi, struct gw_arena *arena)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (total <= 0)
        return NULL;
    size_t cap = 2 * (size_t)total + 2, off = 0;
    char *q = gw_arena_alloc(arena, cap);
    if (!q)
        return NULL;
    for (int i = 0;; i++) {
        size_t at = off ? off + 1 : 0;
        int n = lws_hdr_copy_fragment(wsi, q + at, (int)(cap - at), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if (off)
            q[off] = '&';
        off = at + (size_t)n;
    }
    q[off] = '\0';
    return q;
}

/* The client's X-Request-Id when it is safe (gw_log.h), else a new one; longer ones do not fit. */
static void take_request_id(struct lws *wsi, char out[GW_REQUEST_ID_SIZE])
{
    char given[GW_REQUEST_ID_SIZE];
    int n = lws_hdr_custom_copy(wsi, given, sizeof(given), "x-request-id:", 13);
    gw_request_id_take(n > 0 ? given : NULL, out);
}

static void on_request(struct gw_server *srv, struct session *s, struct lws *wsi, const char *uri)
{
    take_request_id(wsi, s->request_id);
    s->wsi = wsi;
    s->arena = gw_arena_create(4096);
    s->counted = 1;
    srv->open_requests++;
    const char *m = method_name(wsi);
    snprintf(s->method, sizeof(s->method), "%s", m ? m : "?");
    if (!s->arena) {
        s->close_after = 1;
        return;
    }
    if (strlen(uri) >= sizeof(s->path)) {
        s->early_status = 414;
        return;
    }
    snprintf(s->path, sizeof(s->path), "%s", uri);
    s->query = query_of(wsi, s->arena);
    if (!strcmp(s->method, "GET")) {
        if (!strcmp(s->path, "/healthz"))
            s->builtin = BUILTIN_HEALTH;
        else if (!strcmp(s->path, "/readyz"))
            s->builtin = BUILTIN_READY;
        else if (!strcmp(s->path, "/metrics"))
            s->builtin = BUILTIN_METRICS;
        if (s->builtin)
            return;
    }
    int path_known;
    s->route = find_route(s->method, s->path, &path_known);
    if (!s->route)
        s->early_status = path_known ? 405 : 404;
    else
        check_client(srv, s, wsi);
}

/*
 * A parse the loop hands to a worker: a copy of the request that needs
 * nothing of the connection (the body and the two headers parsers use).
 */
struct deferred_parse {
    const struct gw_route *route;
    struct gw_http_request req;
    const char *authorization;
    struct gw_http_reply reply;
    int failed;
};

static const char *deferred_header(const struct gw_http_request *req, const char *name)
{
    const struct deferred_parse *d = req->header_ctx;
    if (!strcmp(name, "content-type"))
        return req->content_type;
    if (!strcmp(name, "authorization"))
        return d->authorization;
    return NULL;
}

static enum gw_err deferred_parse_run(void *arg, struct gw_arena *arena, struct gw_contact *c)
{
    struct deferred_parse *d = arg;
    if (d->route->parse(&d->req, arena, c, &d->reply) != GW_OK) {
        d->failed = 1;
        return GW_ERR_INVALID;
    }
    return GW_OK;
}

/*
 * Ready, or ready but degraded: a mail account that cannot authenticate
 * leaves its mail on the server, but the gateway still takes every contact,
 * so it stays in the load balancer (200) and says what is wrong.
 */
/*
 * /readyz: the database and the spool say ready, degraded (spooling) or 503
 * (gw_spool_readiness); mail accounts that cannot authenticate make a ready
 * gateway degraded too, each named in "degraded".
 */
static void readiness(struct gw_server *srv, bool database_ok, struct gw_arena *arena,
                      struct gw_http_reply *reply)
{
    char *lines = gw_oauth_degraded(srv->cfg->oauth, arena);
    json_t *list = lines ? json_array() : NULL;
    char *rest = NULL;
    for (char *line = lines ? strtok_r(lines, "\n", &rest) : NULL; line;
         line = strtok_r(NULL, "\n", &rest))
        json_array_append_new(list, json_string(line));
    gw_spool_readiness(srv->spool, database_ok, list, arena, reply);
}

void gw_http_job_done(struct gw_intake_job *job, void *user)
{
    struct gw_server *srv = user;
    struct job_owner *owner = job->owner;
    gw_metrics_count_result(&srv->metrics, job, gw_server_now());
    if (!owner) {
        /* Its requester left; the job lives in its arena (or the arena in the job). */
        gw_arena_destroy(job->arena);
        return;
    }
    if (owner->kind == OWNER_SOCKET) {
        socket_job_done(srv, job);
        return;
    }
    struct session *s = (struct session *)owner;
    s->job = NULL;
    const char *was = gw_log_set_request(s->request_id);
    if (job->kind == GW_JOB_PING)
        readiness(srv, job->result.err == GW_OK, s->arena, &s->reply);
    else if (job->parse && ((struct deferred_parse *)job->parse_arg)->failed) {
        srv->metrics.rejected++;
        s->reply = ((struct deferred_parse *)job->parse_arg)->reply;
        count_refused_credentials(srv, s);
    } else {
        s->route->respond(&job->result, s->arena, &s->reply);
        if (s->route->auth == GW_AUTH_BEARER && s->reply.status == 401)
            count_auth_failure(srv, s->wsi);
    }
    send_reply(s);
    gw_log_set_request(was);
}

static void submit(struct gw_server *srv, struct session *s, struct gw_intake_job *job)
{
    job->arena = s->arena;
    job->owner = &s->owner;
    job->submitted_at = gw_server_now();
    memcpy(job->request_id, s->request_id, sizeof(job->request_id));
    enum gw_err err = srv->draining ? GW_ERR_SHUTTING_DOWN : gw_intake_submit(srv->intake, job);
    if (err == GW_OK) {
        s->job = job;
        return;
    }
    struct gw_intake_result r = {.err = err};
    snprintf(r.detail, sizeof(r.detail), "%s, retry later", gw_strerror(err));
    gw_reply_intake_failure(&s->reply, s->arena, &r);
    send_reply(s);
}

static void serve_builtin(struct gw_server *srv, struct session *s)
{
    if (s->builtin == BUILTIN_HEALTH) {
        gw_reply_json(&s->reply, s->arena, 200, json_pack("{s:s}", "status", "ok"));
        send_reply(s);
    } else if (s->builtin == BUILTIN_METRICS) {
        s->reply.status = 200;
        s->reply.content_type = "text/plain; version=0.0.4";
        const char *core =
            gw_metrics_render(&srv->metrics, s->arena, gw_intake_in_flight(srv->intake));
        const char *spool = gw_spool_metrics(srv->spool, s->arena);
        const char *oauth = gw_oauth_metrics(srv->cfg->oauth, s->arena);
        s->reply.body = core && spool
                            ? gw_arena_printf(s->arena, "%s%s%s", core, spool, oauth ? oauth : "")
                            : NULL;
        s->reply.body_len = s->reply.body ? strlen(s->reply.body) : 0;
        send_reply(s);
    } else {
        struct gw_intake_job *job = gw_arena_zalloc(s->arena, sizeof(*job));
        if (!job) {
            reply_error(s, 500, "out of memory", NULL);
            return;
        }
        job->kind = GW_JOB_PING;
        submit(srv, s, job);
    }
}

static void on_body_complete(struct gw_server *srv, struct session *s)
{
    if (s->early_status) {
        static const char *const why[] = {
            [1] = "missing bearer token", [3] = "wrong token",
            [4] = "no such endpoint",     [5] = "method not allowed",
            [14] = "path too long",       [29] = "too many requests from this address"};
        int st = s->early_status;
        reply_error(s, st, why[st - 400] ? why[st - 400] : "rejected", NULL);
        if (st == 401)
            s->reply.www_authenticate = "Bearer";
        s->reply.retry_after_s = s->early_retry_s;
        return;
    }
    if (s->builtin) {
        serve_builtin(srv, s);
        return;
    }
    struct gw_http_request req = {
        .method = s->method,
        .path = s->path,
        .query = s->query,
        .body = s->body,
        .body_len = s->body_len,
        .header = header_lookup,
        .header_ctx = s,
        .config = srv->cfg,
    };
    req.content_type = header_lookup(&req, "content-type");
    struct gw_intake_job *job = gw_arena_zalloc(s->arena, sizeof(*job));
    if (!job) {
        reply_error(s, 500, "out of memory", NULL);
        return;
    }
    if (s->route->answer) {
        /* A page, or a database operation whose result respond turns into the reply. */
        if (s->route->answer(&req, s->arena, job, &s->reply))
            submit(srv, s, job);
        else
            send_reply(s);
        return;
    }
    job->kind = GW_JOB_REGISTER;
    job->may_spool = gw_spool_takes(srv->spool, s->route);
    if (s->route->parse_off_loop) {
        /* The body outlives the request buffer only as an arena copy. */
        struct deferred_parse *d = gw_arena_zalloc(s->arena, sizeof(*d));
        unsigned char *body = gw_arena_alloc(s->arena, s->body_len + 1);
        if (!d || !body) {
            reply_error(s, 500, "out of memory", NULL);
            return;
        }
        memcpy(body, s->body, s->body_len);
        body[s->body_len] = '\0';
        d->route = s->route;
        d->req = req;
        d->req.body = body;
        d->req.method = gw_arena_strdup(s->arena, s->method);
        d->req.path = gw_arena_strdup(s->arena, s->path);
        d->req.header = deferred_header;
        d->req.header_ctx = d;
        d->authorization = header_lookup(&req, "authorization");
        job->parse = deferred_parse_run;
        job->parse_arg = d;
        submit(srv, s, job);
        return;
    }
    if (s->route->parse(&req, s->arena, &job->contact, &s->reply) != GW_OK) {
        srv->metrics.rejected++;
        count_refused_credentials(srv, s);
        send_reply(s);
        return;
    }
    submit(srv, s, job);
}

/* The body cap of the request's route (or the global one before a route is known). */
static size_t body_cap(const struct gw_server *srv, const struct session *s)
{
    return s->route && s->route->max_body ? s->route->max_body : srv->cfg->max_body;
}

static int append_body(struct gw_server *srv, struct session *s, const void *in, size_t len)
{
    if (s->reply_ready)
        return 0; /* already rejected; discard */
    if (s->body_len + len > body_cap(srv, s)) {
        s->close_after = 1;
        reply_error(s, 413, "request body too large", NULL);
        return 0;
    }
    if (s->body_len + len + 1 > s->body_cap) {
        size_t cap = s->body_cap ? s->body_cap * 2 : 4096;
        while (cap < s->body_len + len + 1)
            cap *= 2;
        unsigned char *grown = realloc(s->body, cap);
        if (!grown)
            return -1;
        s->body = grown;
        s->body_cap = cap;
    }
    if (len)
        memcpy(s->body + s->body_len, in, len); /* an empty body may come as NULL */
    s->body_len += len;
    s->body[s->body_len] = '\0';
    return 0;
}

/*
 * The status line, the headers and the body go out in one write: one send()
 * and one TCP segment for a small reply, instead of the headers in one
 * writable callback and the body in the next (a second send, a second wake-up
 * of the loop, and of the client, per request).
 */
static int write_reply(struct gw_server *srv, struct session *s)
{
    /* A draining gateway closes each connection after its answer: the client goes elsewhere. */
    if (srv->draining)
        s->close_after = 1;
    size_t n = s->reply.body_len;
    unsigned char *buf = malloc(LWS_PRE + HEADERS_SPACE + n);
    if (!buf)
        return -1;
    unsigned char *start = buf + LWS_PRE, *p = start, *end = start + HEADERS_SPACE - 1;
    int failed = lws_add_http_common_headers(s->wsi, (unsigned)s->reply.status,
                                             s->reply.content_type, n, &p, end);
    if (!failed && s->reply.retry_after_s > 0) {
        char v[16];
        int len = snprintf(v, sizeof(v), "%d", s->reply.retry_after_s);
        failed = lws_add_http_header_by_token(s->wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
                                              (unsigned char *)v, len, &p, end);
    }
    if (!failed && s->reply.cache_control)
        failed = lws_add_http_header_by_token(s->wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                              (const unsigned char *)s->reply.cache_control,
                                              (int)strlen(s->reply.cache_control), &p, end);
    if (!failed && s->reply.www_authenticate)
        failed = lws_add_http_header_by_token(s->wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                              (const unsigned char *)s->reply.www_authenticate,
                                              (int)strlen(s->reply.www_authenticate), &p, end);
    if (!failed && s->request_id[0])
        failed = lws_add_http_header_by_name(
            s->wsi, (const unsigned char *)"X-Request-Id:", (const unsigned char *)s->request_id,
            (int)strlen(s->request_id), &p, end);
    if (!failed && s->close_after)
        failed = lws_add_http_header_by_token(s->wsi, WSI_TOKEN_CONNECTION,
                                              (const unsigned char *)"close", 5, &p, end);
    if (!failed)
        failed = lws_finalize_http_header(s->wsi, &p, end);
    if (!failed) {
        if (n)
            memcpy(p, s->reply.body, n);
        size_t total = (size_t)(p - start) + n;
        int w = lws_write(s->wsi, start, total, LWS_WRITE_HTTP_FINAL);
        failed = w < 0 || (size_t)w != total;
    }
    free(buf);
    if (failed)
        return -1;
    srv->metrics.responses[s->reply.status / 100 < 6 ? s->reply.status / 100 : 5]++;
    int close_after = s->close_after;
    end_request(srv, s);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(s->wsi) ? -1 : 0;
}

static int http_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len);

/*
 * Every line written while serving a request names it (its id is set in
 * on_request); only the request's own callbacks are sure to get a session.
 */
static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct session *s = user;
    bool ours = s && (reason == LWS_CALLBACK_HTTP || reason == LWS_CALLBACK_HTTP_BODY ||
                      reason == LWS_CALLBACK_HTTP_BODY_COMPLETION ||
                      reason == LWS_CALLBACK_HTTP_WRITEABLE || reason == LWS_CALLBACK_CLOSED_HTTP ||
                      reason == LWS_CALLBACK_HTTP_DROP_PROTOCOL);
    const char *was = gw_log_set_request(ours ? s->request_id : NULL);
    int rc = http_event(wsi, reason, user, in, len);
    gw_log_set_request(was);
    return rc;
}

static int http_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    struct session *s = user;
    struct gw_server *srv = server_of(wsi);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        end_request(srv, s);
        on_request(srv, s, wsi, in);
        if (s->close_after)
            return -1;
        if (strcmp(s->method, "POST") && strcmp(s->method, "PUT") && strcmp(s->method, "PATCH"))
            on_body_complete(srv, s);
        else {
            /*
             * lws 4.1 never completes a chunked request body, so a body must
             * come with its length; a length over the cap is refused unread.
             */
            char cl[32];
            if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
                s->close_after = 1;
                reply_error(s, 411, "send the body with a Content-Length", NULL);
            } else if (strtoull(cl, NULL, 10) > body_cap(srv, s)) {
                s->close_after = 1;
                reply_error(s, 413, "request body too large", NULL);
            }
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        return s->arena ? append_body(srv, s, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s->arena && !s->reply_ready)
            on_body_complete(srv, s);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!s->arena || !s->reply_ready)
            return 0;
        return write_reply(srv, s);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (s)
            end_request(srv, s);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket upgrade naming no protocol of ours: socket routes need theirs. */
        return 1;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (srv && srv->intake && !srv->closing) {
            gw_intake_collect(srv->intake, gw_http_job_done, srv);
            socket_hub_dispatch(srv);
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

const struct lws_protocols gw_http_protocol = {
    .name = "http",
    .callback = http_callback,
    .per_session_data_size = sizeof(struct session),
};
