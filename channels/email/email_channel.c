/*
 * The email channel: mail in over HTTP (a provider's inbound route posting
 * the raw message) and through an MTA pipe (`intake ingest-email`), both
 * through the same parser. Settings live under "channels": {"email": {...}}.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "email.h"
#include "gw_channel.h"
#include "gw_config.h"
#include "gw_job.h"
#include "gw_oauth.h"
#include "gw_reply.h"
#include "gw_validate.h"

/* Mail providers cap messages at 25-35 MB; beyond this a message is refused. */
#define EMAIL_MAX_BYTES (32u << 20)

static const char *setting(const struct gw_config *cfg, const char *key)
{
    const json_t *s = gw_config_channel(cfg, GW_EMAIL_CHANNEL);
    return json_string_value(json_object_get(s, key));
}

static struct gw_email_opts opts_of(const struct gw_config *cfg)
{
    struct gw_email_opts o = {setting(cfg, "from_address"), cfg->ticket_prefix};
    return o;
}

static enum gw_err parse_inbound(const struct gw_http_request *req, struct gw_arena *arena,
                                 struct gw_contact *c, struct gw_http_reply *reply)
{
    if (req->content_type && strncasecmp(req->content_type, "message/rfc822", 14)) {
        gw_reply_error(reply, arena, 415, "Content-Type must be message/rfc822", NULL);
        return GW_ERR_INVALID;
    }
    if (req->body_len == 0) {
        gw_reply_error(reply, arena, 400, "empty message", NULL);
        return GW_ERR_INVALID;
    }
    /* parse_off_loop: the body is already an arena copy that lives as long as the contact. */
    struct gw_email_opts o = opts_of(req->config);
    const char *why = NULL;
    if (gw_email_parse(req->body, req->body_len, &o, arena, c, &why) != GW_OK) {
        gw_reply_error(reply, arena, 400, why, NULL);
        return GW_ERR_INVALID;
    }
    return GW_OK;
}

static void respond_inbound(const struct gw_intake_result *r, struct gw_arena *arena,
                            struct gw_http_reply *reply)
{
    if (r->err != GW_OK) {
        gw_reply_intake_failure(reply, arena, r);
        return;
    }
    if (r->spooled) {
        /* Kept by the gateway; registered when the database answers. */
        gw_reply_json(reply, arena, 200, json_pack("{s:s}", "status", "spooled"));
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "ticket", r->ticket, "customer",
                          r->customer, "category", r->category, "priority", r->priority,
                          "new_ticket", r->new_ticket, "duplicate", r->duplicate);
    gw_reply_json(reply, arena, r->duplicate ? 200 : 201, o);
}

/* Reads all of stdin up to max; returns NULL (and *too_big) when it is larger. */
static unsigned char *read_stdin(size_t max, size_t *len, int *too_big)
{
    size_t cap = 64 * 1024, n = 0;
    unsigned char *buf = malloc(cap);
    *too_big = 0;
    while (buf) {
        if (n == cap) {
            if (cap > max) {
                *too_big = 1;
                free(buf);
                return NULL;
            }
            unsigned char *grown = realloc(buf, cap * 2);
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(STDIN_FILENO, buf + n, cap - n);
        if (r == 0)
            break;
        if (r < 0) {
            free(buf);
            return NULL;
        }
        n += (size_t)r;
    }
    if (buf && n > max) {
        *too_big = 1;
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/*
 * The MTA pipe, with sysexits the MTA understands: 0 only once the message
 * is committed, 75 (EX_TEMPFAIL: keep it queued, retry) whenever it could
 * not be stored now, 65 (EX_DATAERR: bounce) only for mail that can never be.
 */
/* What a message would become, as JSON on stdout, without storing it. */
static int print_contact(const struct gw_contact *c)
{
    json_t *att = json_array();
    for (size_t i = 0; i < c->n_attachments; i++)
        json_array_append_new(att,
                              json_pack("{s:s?, s:s?, s:I}", "filename", c->attachments[i].filename,
                                        "content_type", c->attachments[i].content_type, "size",
                                        (json_int_t)c->attachments[i].size));
    json_t *refs = json_array();
    for (size_t i = 0; i < c->n_thread_refs; i++)
        json_array_append_new(refs, json_string(c->thread_refs[i]));
    json_t *o = json_pack(
        "{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:o, s:I, s:s?}", "from",
        c->sender.email, "name", c->sender.name, "reply_to", c->reply_handle, "subject", c->subject,
        "message_id", c->external_ref, "ticket_ref", c->ticket_ref, "thread_refs", refs,
        "no_ack_reason", c->no_ack_reason, "bounce_of", c->bounce_of, "attachments", att,
        "body_chars", (json_int_t)(c->body ? strlen(c->body) : 0), "summary", c->summary);
    if (!o)
        return EX_SOFTWARE;
    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    putchar('\n');
    json_decref(o);
    return EX_OK;
}

static int cmd_ingest(int argc, char **argv, const struct gw_config *cfg)
{
    int dry_run = argc > 1 && !strcmp(argv[1], "--dry-run");
    /* One run, one request: its log lines carry the id. */
    char request_id[GW_REQUEST_ID_SIZE];
    gw_log_set_request(gw_request_id_new(request_id));
    size_t len = 0;
    int too_big = 0;
    unsigned char *raw = read_stdin(EMAIL_MAX_BYTES, &len, &too_big);
    if (!raw) {
        fprintf(stderr, "ingest-email: %s\n",
                too_big ? "message larger than 32 MiB" : "cannot read the message");
        return too_big ? EX_DATAERR : EX_TEMPFAIL;
    }
    struct gw_arena *arena = gw_arena_create(16384);
    struct gw_intake_job job;
    memset(&job, 0, sizeof(job));
    job.kind = GW_JOB_REGISTER;
    job.arena = arena;
    struct gw_email_opts o = opts_of(cfg);
    const char *why = NULL;
    enum gw_err err = GW_OK;
    int rc;
    if (!arena) {
        rc = EX_TEMPFAIL;
    } else if (len == 0) {
        fprintf(stderr, "ingest-email: refused: empty message\n");
        rc = EX_DATAERR;
    } else if (gw_email_parse(raw, len, &o, arena, &job.contact, &why) != GW_OK) {
        fprintf(stderr, "ingest-email: refused: %s\n", why);
        rc = EX_DATAERR;
    } else if (dry_run) {
        rc = print_contact(&job.contact);
    } else if ((err = gw_intake_register_now(cfg, &job)) != GW_OK || job.result.err != GW_OK) {
        if (err == GW_OK)
            err = job.result.err;
        rc = err == GW_ERR_INVALID ? EX_DATAERR : EX_TEMPFAIL;
        fprintf(stderr, "ingest-email: not stored (%s), %s\n", gw_strerror(err),
                rc == EX_TEMPFAIL ? "retry later" : "refused");
    } else {
        printf("%s %s\n", job.result.ticket,
               job.result.duplicate    ? "duplicate"
               : job.result.new_ticket ? "new"
                                       : "reply");
        rc = EX_OK;
    }
    gw_arena_destroy(arena);
    free(raw);
    gw_log_set_request(NULL);
    return rc;
}

/* "auth": "password" (password or password_env) or "xoauth2" (an "oauth" account). */
static void check_mailbox_auth(const json_t *box, size_t i, struct gw_problems *pr)
{
    json_t *auth = json_object_get(box, "auth");
    const char *how = json_string_value(auth);
    char at[96];
    snprintf(at, sizeof(at), "channels.email.imap.mailboxes[%zu]", i);
    if (auth && (!how || (strcmp(how, "password") && strcmp(how, "xoauth2"))))
        gw_problems_add(pr, "%s.auth: must be password or xoauth2", at);
    json_t *oauth = json_object_get(box, "oauth");
    if (how && !strcmp(how, "xoauth2") && !oauth)
        gw_problems_add(pr, "%s.oauth: required when auth is xoauth2", at);
    if (oauth) {
        char path[128];
        snprintf(path, sizeof(path), "%s.oauth", at);
        gw_oauth_check(oauth, path, pr);
    }
}

static void check_imap(const json_t *imap, struct gw_problems *pr)
{
    if (!imap)
        return;
    json_t *iv = json_object_get(imap, "interval_seconds");
    if (iv &&
        (!json_is_integer(iv) || json_integer_value(iv) < 1 || json_integer_value(iv) > 86400))
        gw_problems_add(pr, "channels.email.imap.interval_seconds: must be 1..86400");
    json_t *boxes = json_object_get(imap, "mailboxes");
    if (!json_is_array(boxes)) {
        gw_problems_add(pr, "channels.email.imap.mailboxes: must be an array");
        return;
    }
    size_t i;
    json_t *b;
    json_array_foreach(boxes, i, b)
    {
        const char *url = json_string_value(json_object_get(b, "url"));
        if (!url || (strncmp(url, "imap://", 7) && strncmp(url, "imaps://", 8)))
            gw_problems_add(
                pr, "channels.email.imap.mailboxes[%zu].url: must be imap:// or imaps://", i);
        if (!json_is_string(json_object_get(b, "user")))
            gw_problems_add(pr, "channels.email.imap.mailboxes[%zu].user: required", i);
        const char *tls = json_string_value(json_object_get(b, "starttls"));
        if (tls && strcmp(tls, "no") && strcmp(tls, "if-offered") && strcmp(tls, "required"))
            gw_problems_add(
                pr, "channels.email.imap.mailboxes[%zu].starttls: no, if-offered or required", i);
        check_mailbox_auth(b, i, pr);
    }
}

static void check_config(const json_t *section, struct gw_problems *pr)
{
    static const char *const known[] = {"from_address", "from_name", "acks_per_sender_per_hour",
                                        "imap", NULL};
    gw_problems_unknown_keys(pr, section, known, "channels.email");
    json_t *from = json_object_get(section, "from_address");
    if (from && (!json_is_string(from) || !strchr(json_string_value(from), '@')))
        gw_problems_add(pr, "channels.email.from_address: must be an email address");
    json_t *name = json_object_get(section, "from_name");
    if (name && !json_is_string(name))
        gw_problems_add(pr, "channels.email.from_name: must be a string");
    check_imap(json_object_get(section, "imap"), pr);
    json_t *rate = json_object_get(section, "acks_per_sender_per_hour");
    if (rate && (!json_is_integer(rate) || json_integer_value(rate) < 0 ||
                 json_integer_value(rate) > 10000))
        gw_problems_add(pr, "channels.email.acks_per_sender_per_hour: must be 0..10000");
}

#define DEFAULT_FROM          "support@localhost"
#define DEFAULT_ACKS_PER_HOUR 5

static struct gw_email_ack_opts sender_of(const struct gw_config *cfg)
{
    const json_t *s = gw_config_channel(cfg, GW_EMAIL_CHANNEL);
    const json_t *rate = json_object_get(s, "acks_per_sender_per_hour");
    struct gw_email_ack_opts o = {
        setting(cfg, "from_address") ? setting(cfg, "from_address") : DEFAULT_FROM,
        setting(cfg, "from_name"),
        rate ? (int)json_integer_value(rate) : DEFAULT_ACKS_PER_HOUR,
    };
    return o;
}

static enum gw_err render_ack(const json_t *ack, const struct gw_config *cfg,
                              struct gw_arena *arena, struct gw_delivery *out)
{
    struct gw_email_ack_opts o = sender_of(cfg);
    return gw_email_render_ack(ack, cfg, &o, arena, out);
}

static enum gw_err render_reply(const json_t *reply, const struct gw_config *cfg,
                                struct gw_arena *arena, struct gw_delivery *out)
{
    struct gw_email_ack_opts o = sender_of(cfg);
    return gw_email_render_reply(reply, &o, arena, out);
}

static const struct gw_route email_routes[] = {
    {.method = "POST",
     .path = "/v1/email/inbound",
     .auth = GW_AUTH_API_TOKEN,
     .max_body = EMAIL_MAX_BYTES,
     .parse_off_loop = true,
     /* Providers retry a 5xx for hours; spool only when spool.channels asks for it. */
     .spool = GW_SPOOL_ON_REQUEST,
     .parse = parse_inbound,
     .respond = respond_inbound},
};

static const struct gw_command email_commands[] = {
    {"ingest-email",
     "register one RFC 5322 message read on stdin (an MTA pipe); --dry-run prints it instead",
     cmd_ingest},
    {"import-mail", "import an mbox file or a Maildir of past mail as tickets (docs/import.md)",
     gw_email_import_command},
};

/* Mail addresses: the payload's "email" (db/functions/desk.sql, intake_ticket_contact). */
static const char *const email_address_kinds[] = {"email", NULL};

const struct gw_channel gw_channel_email = {
    .name = GW_EMAIL_CHANNEL,
    .routes = email_routes,
    .n_routes = sizeof(email_routes) / sizeof(email_routes[0]),
    .commands = email_commands,
    .n_commands = sizeof(email_commands) / sizeof(email_commands[0]),
    .init = gw_email_init,
    .check_config = check_config,
    .poll = gw_email_poll,
    .render_ack = render_ack,
    .address_kinds = email_address_kinds,
    .render_reply = render_reply,
};
