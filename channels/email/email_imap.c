/*
 * IMAP polling with libcurl, on the gateway's poller thread. For every
 * configured mailbox: find the messages we have not finished (UID SEARCH
 * UNKEYWORD $IntakeDone), fetch each, register it, and only after the commit
 * mark it done: keyword $IntakeDone plus \Seen, or a move to the processed
 * folder. A fetch sets \Seen on the server before we have committed, so
 * selection relies on our keyword, not on \Seen: after a crash between fetch
 * and commit the message is fetched again and, being idempotent by
 * Message-ID, registered once. One gateway polls a mailbox at a time
 * (advisory lock named after its URL). A mailbox with "auth": "xoauth2"
 * logs in with an OAuth2 access token from the core's token store
 * (gw_oauth.h) by SASL OAUTHBEARER or XOAUTH2, whichever the server offers;
 * a token the server refuses is replaced once, and while no token can be
 * had the mailbox is skipped: its mail stays on the server, untouched.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "email.h"
#include "gw_config.h"
#include "gw_log.h"
#include "gw_oauth.h"
#include "gw_poll.h"

#define DONE_KEYWORD      "$IntakeDone"
#define MAX_PER_POLL      200
#define DEFAULT_INTERVAL  30
#define MAILBOX_MAX_BYTES (32u << 20)

struct buffer {
    char *data;
    size_t len, cap, max;
    int too_large;
};

static size_t collect_bytes(char *ptr, size_t size, size_t n, void *user)
{
    struct buffer *b = user;
    size_t add = size * n;
    if (b->len + add > b->max) {
        b->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

struct mailbox {
    const char *url, *user, *password, *folder;
    const char *ca_file; /* CA certificates for a private CA; NULL: the system's */
    long use_ssl;
    struct gw_oauth_account *oauth; /* "auth": "xoauth2"; NULL: password */
    char *bearer;                   /* the access token of this poll (oauth) */
};

/* One IMAP exchange: a fetch URL, or a command on the mailbox URL. */
static CURLcode imap(CURL *curl, const struct mailbox *mb, const char *url, const char *command,
                     struct buffer *out)
{
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
    curl_easy_setopt(curl, CURLOPT_USERNAME, mb->user);
    if (mb->oauth) {
        curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, mb->bearer);
        /* The token mechanisms only: never the token sent as a LOGIN password. */
        curl_easy_setopt(curl, CURLOPT_LOGIN_OPTIONS, "AUTH=OAUTHBEARER;AUTH=XOAUTH2");
    } else {
        curl_easy_setopt(curl, CURLOPT_PASSWORD, mb->password);
    }
    curl_easy_setopt(curl, CURLOPT_USE_SSL, mb->use_ssl);
    if (mb->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, mb->ca_file);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    if (command)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, command);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_bytes);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    return curl_easy_perform(curl);
}

/* "* SEARCH 3 7 9" -> uids; returns how many. */
static size_t parse_search(const char *text, unsigned long *uids, size_t max)
{
    size_t n = 0;
    const char *p = text ? strstr(text, "* SEARCH") : NULL;
    if (!p)
        return 0;
    p += 8;
    while (*p && *p != '\r' && *p != '\n' && n < max) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p)
            break;
        uids[n++] = v;
        p = end;
    }
    return n;
}

static void mark(CURL *curl, const struct mailbox *mb, unsigned long uid, const char *what)
{
    char cmd[512];
    struct buffer ignore = {.max = 1 << 20};
    if (mb->folder) {
        /* MOVE (RFC 6851); COPY + delete where the server lacks it. */
        snprintf(cmd, sizeof(cmd), "UID MOVE %lu \"%s\"", uid, mb->folder);
        if (imap(curl, mb, mb->url, cmd, &ignore) != CURLE_OK) {
            snprintf(cmd, sizeof(cmd), "UID COPY %lu \"%s\"", uid, mb->folder);
            if (imap(curl, mb, mb->url, cmd, &ignore) == CURLE_OK) {
                snprintf(cmd, sizeof(cmd), "UID STORE %lu +FLAGS (\\Deleted)", uid);
                imap(curl, mb, mb->url, cmd, &ignore);
                imap(curl, mb, mb->url, "EXPUNGE", &ignore);
            }
        }
    } else {
        snprintf(cmd, sizeof(cmd), "UID STORE %lu %s", uid, what);
        imap(curl, mb, mb->url, cmd, &ignore);
    }
    free(ignore.data);
}

/* Registers one message; false when the database is away (stop this poll). */
static bool take_message(struct gw_poll_ctx *ctx, const struct mailbox *mb, unsigned long uid)
{
    CURL *curl = gw_poll_curl(ctx);
    char url[1024];
    snprintf(url, sizeof(url), "%s;UID=%lu", mb->url, uid);
    struct buffer msg = {.max = MAILBOX_MAX_BYTES};
    CURLcode rc = imap(curl, mb, url, NULL, &msg);
    if (rc != CURLE_OK && !msg.too_large) {
        gw_log_event(GW_LOG_WARN, "email.imap.fetch_failed",
                     GW_FIELDS(GW_INT("uid", uid), GW_STR("reason", curl_easy_strerror(rc))),
                     "email: imap fetch of uid %lu failed: %s", uid, curl_easy_strerror(rc));
        free(msg.data);
        return true; /* try it again next poll */
    }
    struct gw_arena *arena = gw_arena_create(16384);
    struct gw_intake_job job;
    memset(&job, 0, sizeof(job));
    job.kind = GW_JOB_REGISTER;
    job.arena = arena;
    const struct gw_config *cfg = gw_poll_config(ctx);
    const json_t *s = gw_config_channel(cfg, GW_EMAIL_CHANNEL);
    struct gw_email_opts o = {json_string_value(json_object_get(s, "from_address")),
                              cfg->ticket_prefix};
    const char *why = NULL;
    bool go_on = true;
    if (!arena) {
        go_on = false;
    } else if (msg.too_large || !msg.len ||
               gw_email_parse((const unsigned char *)msg.data, msg.len, &o, arena, &job.contact,
                              &why) != GW_OK) {
        /* Never storable: flag it so it is not fetched forever, and leave it for a person. */
        gw_log_event(
            GW_LOG_WARN, "email.imap.refused",
            GW_FIELDS(GW_INT("uid", uid), GW_STR("reason", msg.too_large ? "too large" : why)),
            "email: imap uid %lu refused: %s", uid, msg.too_large ? "too large" : why);
        mark(curl, mb, uid, "+FLAGS (" DONE_KEYWORD " $IntakeRefused)");
    } else if (gw_poll_register(ctx, &job) != GW_OK || job.result.err == GW_ERR_DB_UNAVAILABLE) {
        /* Stored nowhere: give the message back its unread state and stop for now. */
        mark(curl, mb, uid, "-FLAGS (\\Seen)");
        go_on = false;
    } else if (job.result.err != GW_OK) {
        gw_log_event(GW_LOG_WARN, "email.imap.not_stored",
                     GW_FIELDS(GW_INT("uid", uid), GW_STR("error", gw_strerror(job.result.err))),
                     "email: imap uid %lu not stored: %s", uid, gw_strerror(job.result.err));
    } else {
        mark(curl, mb, uid, "+FLAGS (\\Seen " DONE_KEYWORD ")");
    }
    gw_arena_destroy(arena);
    free(msg.data);
    return go_on;
}

/* The first exchange of a poll; with a token, a refused one is replaced once. */
static CURLcode search(CURL *curl, struct mailbox *mb, struct buffer *found)
{
    for (int attempt = 0;; attempt++) {
        char why[300];
        if (mb->oauth && !mb->bearer &&
            gw_oauth_token(mb->oauth, &mb->bearer, why, sizeof(why)) != GW_OK) {
            /* The store logged the condition when it began; the mail waits on the server. */
            gw_debug("email: imap poll skipped: %s", why);
            return CURLE_LOGIN_DENIED;
        }
        found->len = 0;
        CURLcode rc = imap(curl, mb, mb->url, "UID SEARCH UNKEYWORD " DONE_KEYWORD, found);
        if (!mb->oauth || (rc != CURLE_OK && rc != CURLE_LOGIN_DENIED))
            return rc;
        gw_oauth_report(mb->oauth, mb->bearer, rc == CURLE_OK);
        if (rc == CURLE_OK || attempt == 1)
            return rc;
        free(mb->bearer);
        mb->bearer = NULL;
    }
}

static void drain(struct gw_poll_ctx *ctx, struct mailbox *mb)
{
    CURL *curl = gw_poll_curl(ctx);
    struct buffer found = {.max = 1 << 20};
    CURLcode rc = search(curl, mb, &found);
    if (rc == CURLE_LOGIN_DENIED && mb->oauth) {
        free(found.data);
        return;
    }
    if (rc != CURLE_OK) {
        gw_log_event(GW_LOG_WARN, "email.imap.search_failed",
                     GW_FIELDS(GW_STR("reason", curl_easy_strerror(rc))),
                     "email: imap search failed: %s", curl_easy_strerror(rc));
        free(found.data);
        return;
    }
    unsigned long uids[MAX_PER_POLL];
    size_t n = parse_search(found.data, uids, MAX_PER_POLL);
    free(found.data);
    for (size_t i = 0; i < n && !gw_poll_stopping(ctx); i++)
        if (!take_message(ctx, mb, uids[i]))
            break;
}

static long ssl_mode(const char *s)
{
    if (s && !strcmp(s, "required"))
        return (long)CURLUSESSL_ALL;
    if (s && !strcmp(s, "no"))
        return (long)CURLUSESSL_NONE;
    return (long)CURLUSESSL_TRY;
}

int gw_email_poll(struct gw_poll_ctx *ctx)
{
    const json_t *s = gw_config_channel(gw_poll_config(ctx), GW_EMAIL_CHANNEL);
    const json_t *imap_cfg = json_object_get(s, "imap");
    const json_t *boxes = json_object_get(imap_cfg, "mailboxes");
    if (!json_array_size(boxes))
        return 0;
    size_t i;
    const json_t *b;
    json_array_foreach(boxes, i, b)
    {
        const char *env = json_string_value(json_object_get(b, "password_env"));
        struct mailbox mb = {
            json_string_value(json_object_get(b, "url")),
            json_string_value(json_object_get(b, "user")),
            env ? getenv(env) : json_string_value(json_object_get(b, "password")),
            json_string_value(json_object_get(b, "processed_folder")),
            json_string_value(json_object_get(b, "ca_file")),
            ssl_mode(json_string_value(json_object_get(b, "starttls"))),
            NULL,
            NULL,
        };
        if (!mb.url || gw_poll_stopping(ctx))
            continue;
        const char *auth = json_string_value(json_object_get(b, "auth"));
        if (auth && !strcmp(auth, "xoauth2")) {
            const json_t *spec = json_object_get(b, "oauth");
            char label[1100];
            snprintf(label, sizeof(label), "mailbox %s", mb.url);
            mb.oauth = gw_oauth_account(gw_poll_config(ctx)->oauth, spec, label, false);
            if (!mb.oauth)
                continue;
        }
        char lock[1100];
        snprintf(lock, sizeof(lock), "imap:%s", mb.url);
        if (!gw_poll_try_lock(ctx, lock))
            continue; /* another gateway drains this one */
        drain(ctx, &mb);
        free(mb.bearer);
        gw_poll_unlock(ctx, lock);
    }
    const json_t *iv = json_object_get(imap_cfg, "interval_seconds");
    return iv ? (int)json_integer_value(iv) : DEFAULT_INTERVAL;
}
