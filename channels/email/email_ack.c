/*
 * The acknowledgement as a proper reply (GMime builds it): threaded to the
 * customer's message, subject tagged with the ticket number so a reply
 * finds the ticket even without references, marked auto-replied so that
 * well-behaved robots do not answer, and carrying our loop header so that we
 * never answer ourselves. Plain text and HTML alternatives, quoted-printable.
 */
#include <gmime/gmime.h>
#include <stdbool.h>
#include <string.h>

#include "email.h"
#include "gw_ack.h"
#include "gw_channel.h"
#include "gw_config.h"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Stable per ticket event, so a retried delivery carries the same Message-ID. */
static char *ack_message_id(const json_t *ack, const char *from, struct gw_arena *arena)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    const char *parts[] = {str(ack, "ticket"), str(ack, "external_ref"), str(ack, "event")};
    for (size_t i = 0; i < 3; i++) {
        if (parts[i])
            g_checksum_update(ck, (const guchar *)parts[i], (gssize)strlen(parts[i]));
        g_checksum_update(ck, (const guchar *)"|", 1);
    }
    const char *at = strrchr(from, '@');
    char *id = gw_arena_printf(arena, "ack.%.24s.%s@%s", g_checksum_get_string(ck),
                               str(ack, "ticket"), at ? at + 1 : "intake.invalid");
    g_checksum_free(ck);
    return id;
}

/* "[SR-000123] Re: <subject>", without stacking tags or Re:s. */
static char *ack_subject(const json_t *ack, struct gw_arena *arena)
{
    const char *ticket = str(ack, "ticket");
    const char *orig = str(ack, "subject");
    if (!orig || !*orig)
        return gw_arena_printf(arena, "[%s] %s", ticket,
                               !g_strcmp0(str(ack, "language"), "zh") ? "已收到您的请求"
                                                                      : "We received your request");
    const char *tag_at = strstr(orig, ticket);
    while (!g_ascii_strncasecmp(orig, "Re:", 3) || !g_ascii_strncasecmp(orig, "Aw:", 3))
        orig = g_strchug((char *)gw_arena_strdup(arena, orig + 3));
    if (tag_at)
        return gw_arena_printf(arena, "Re: %s", orig);
    return gw_arena_printf(arena, "[%s] Re: %s", ticket, orig);
}

static char *html_of(const char *text, struct gw_arena *arena)
{
    gchar *escaped = g_markup_escape_text(text, -1);
    GString *html = g_string_new("<!DOCTYPE html><html><body><p>");
    for (const char *p = escaped; *p; p++) {
        if (p[0] == '\n' && p[1] == '\n') {
            g_string_append(html, "</p><p>");
            p++;
        } else if (*p == '\n')
            g_string_append(html, "<br>");
        else
            g_string_append_c(html, *p);
    }
    g_string_append(html, "</p></body></html>");
    char *r = gw_arena_strdup(arena, html->str);
    g_string_free(html, TRUE);
    g_free(escaped);
    return r;
}

static GMimeObject *text_part(const char *subtype, const char *text)
{
    GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
    g_mime_text_part_set_charset(tp, "utf-8");
    g_mime_text_part_set_text(tp, text);
    g_mime_part_set_content_encoding(GMIME_PART(tp), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    return GMIME_OBJECT(tp);
}

/* A whole message, CRLF line ends, in the arena; NULL when out of memory. */
static char *build_message(const struct gw_email_ack_opts *opts, const char *to, const char *name,
                           const char *subject, const char *mid, const char *text,
                           const char *in_reply_to, const char *ticket, bool automatic,
                           struct gw_arena *arena)
{
    GMimeMessage *m = g_mime_message_new(TRUE);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, opts->from_name, opts->from_address);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, name, to);
    g_mime_message_set_subject(m, subject, "utf-8");
    g_mime_message_set_message_id(m, mid);
    GDateTime *now = g_date_time_new_now_utc();
    g_mime_message_set_date(m, now);
    g_date_time_unref(now);
    GMimeObject *mo = GMIME_OBJECT(m);
    if (in_reply_to) {
        char *ref = gw_arena_printf(arena, "<%s>", in_reply_to);
        g_mime_object_set_header(mo, "In-Reply-To", ref, NULL);
        g_mime_object_set_header(mo, "References", ref, NULL);
    }
    if (automatic) {
        /* RFC 3834, Microsoft's equivalent: well-behaved robots do not answer. */
        g_mime_object_set_header(mo, "Auto-Submitted", "auto-replied", NULL);
        g_mime_object_set_header(mo, "X-Auto-Response-Suppress", "All", NULL);
    }
    /* Ours, for loop detection: we never answer ourselves. */
    g_mime_object_set_header(mo, GW_EMAIL_LOOP_HEADER, ticket, NULL);

    GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
    GMimeObject *plain = text_part("plain", text);
    GMimeObject *html = text_part("html", html_of(text, arena));
    g_mime_multipart_add(alt, plain);
    g_mime_multipart_add(alt, html);
    g_object_unref(plain);
    g_object_unref(html);
    g_mime_message_set_mime_part(m, GMIME_OBJECT(alt));
    g_object_unref(alt);

    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    char *wire = g_mime_object_to_string(mo, fo);
    g_mime_format_options_free(fo);
    g_object_unref(m);
    char *copy = wire ? gw_arena_strdup(arena, wire) : NULL;
    g_free(wire);
    return copy;
}

/* The message (out->message) goes out by SMTP and is kept on its ticket so replies thread. */
static enum gw_err as_delivery(const struct gw_email_ack_opts *opts, const char *to,
                               const char *subject, const char *mid, const char *text,
                               struct gw_arena *arena, struct gw_delivery *out)
{
    out->kind = GW_DELIVER_SMTP;
    out->mail_from = opts->from_address;
    out->rcpt_to = gw_arena_strdup(arena, to);
    out->record_ref = mid;
    out->record_subject = subject;
    out->record_text = text;
    return out->message && out->rcpt_to ? GW_OK : GW_ERR_NOMEM;
}

enum gw_err gw_email_render_ack(const json_t *ack, const struct gw_config *cfg,
                                const struct gw_email_ack_opts *opts, struct gw_arena *arena,
                                struct gw_delivery *out)
{
    memset(out, 0, sizeof(*out));
    const char *to = str(ack, "reply_handle");
    const char *ticket = str(ack, "ticket");
    if (!to || !ticket) {
        out->kind = GW_DELIVER_NONE;
        out->why_none = "no address to answer";
        return GW_OK;
    }
    const char *text = gw_ack_text(ack, cfg, arena);
    const char *subject = ack_subject(ack, arena);
    const char *mid = ack_message_id(ack, opts->from_address, arena);
    if (!text || !subject || !mid)
        return GW_ERR_NOMEM;
    out->message = build_message(opts, to, str(ack, "name"), subject, mid, text,
                                 str(ack, "external_ref"), ticket, true, arena);
    out->per_recipient_per_hour = opts->per_sender_per_hour;
    return as_delivery(opts, to, subject, mid, text, arena, out);
}

enum gw_err gw_email_render_reply(const json_t *reply, const struct gw_email_ack_opts *opts,
                                  struct gw_arena *arena, struct gw_delivery *out)
{
    memset(out, 0, sizeof(*out));
    const char *to = str(reply, "to");
    const char *ticket = str(reply, "ticket");
    const char *body = str(reply, "text");
    if (!to || !ticket || !body) {
        out->kind = GW_DELIVER_NONE;
        out->why_none = "no address to answer";
        return GW_OK;
    }
    bool zh = !g_strcmp0(str(reply, "language"), "zh");
    const char *agent = str(reply, "agent");
    const char *text, *subject;
    if (json_is_true(json_object_get(reply, "notice"))) {
        /* A message of the gateway's own (a survey link): its text as it is. */
        text = body;
        subject = gw_arena_printf(arena, "[%s] %s", ticket,
                                  str(reply, "title") ? str(reply, "title") : "");
    } else {
        text = zh ? gw_arena_printf(arena,
                                    "%s回复了您的请求（工单号 %s）：\n\n%s\n\n"
                                    "如需继续沟通，请直接回复本邮件，并保留主题中的 [%s]。\n",
                                    agent ? agent : "客服", ticket, body, ticket)
                  : gw_arena_printf(arena,
                                    "%s replied to your request (ticket %s):\n\n%s\n\n"
                                    "To continue, reply to this email and keep [%s] in the "
                                    "subject.\n",
                                    agent ? agent : "Our agent", ticket, body, ticket);
        subject = ack_subject(reply, arena);
    }
    /* Stable for one reply, so a retried delivery carries the same Message-ID. */
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, (const guchar *)body, (gssize)strlen(body));
    const char *at = strrchr(opts->from_address, '@');
    const char *mid = gw_arena_printf(arena, "reply.%.24s.%s@%s", g_checksum_get_string(ck), ticket,
                                      at ? at + 1 : "intake.invalid");
    g_checksum_free(ck);
    if (!text || !subject || !mid)
        return GW_ERR_NOMEM;
    /* Threaded under the customer's last mail, when there was one. */
    out->message = build_message(opts, to, str(reply, "name"), subject, mid, text,
                                 str(reply, "in_reply_to"), ticket, false, arena);
    return as_delivery(opts, to, subject, mid, text, arena, out);
}
