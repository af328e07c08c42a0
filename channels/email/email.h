/*
 * The email channel's internal interface, shared by its files: the MIME
 * parser (GMime), HTML to text (libxml2), the loop rules, and the
 * acknowledgement renderer. Nothing here is visible to the core.
 */
#ifndef GW_EMAIL_H
#define GW_EMAIL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "gw_arena.h"
#include "gw_contact.h"
#include "gw_error.h"

#define GW_EMAIL_CHANNEL     "email"
#define GW_EMAIL_LOOP_HEADER "X-Intake-Loop"

/* What the parser needs to know about this gateway. */
struct gw_email_opts {
    const char *own_address;   /* the address acknowledgements come from; never acked */
    const char *ticket_prefix; /* "SR-": finds [SR-000123] in subjects */
};

/*
 * Parses one RFC 5322 message into a contact (pure: no I/O). Strings are
 * arena-owned; contact->raw points at raw (the caller keeps it alive). On
 * GW_ERR_INVALID, *reason says why the message can never be stored.
 */
GW_MUST_USE enum gw_err gw_email_parse(const unsigned char *raw, size_t len,
                                       const struct gw_email_opts *opts, struct gw_arena *arena,
                                       struct gw_contact *contact, const char **reason);

/* Readable text from an HTML document (UTF-8 in and out), arena-owned; NULL on failure. */
char *gw_email_html_to_text(const char *html, size_t len, struct gw_arena *arena);

/* The new text of a reply: quoted history and the signature cut off; arena-owned. */
char *gw_email_strip_quotes(const char *text, struct gw_arena *arena);

struct gw_email_ack_opts {
    const char *from_address; /* envelope and header sender */
    const char *from_name;    /* display name, may be NULL */
    int per_sender_per_hour;  /* acknowledgements to one address per hour; 0: no limit */
};

struct gw_config;
struct gw_delivery;

/* Renders the acknowledgement of an outbox "ack" payload as a reply mail (pure). */
GW_MUST_USE enum gw_err gw_email_render_ack(const json_t *ack, const struct gw_config *cfg,
                                            const struct gw_email_ack_opts *opts,
                                            struct gw_arena *arena, struct gw_delivery *out);

/* An agent's reply (outbox "reply" payload with "to") as an email on the ticket's thread. */
GW_MUST_USE enum gw_err gw_email_render_reply(const json_t *reply,
                                              const struct gw_email_ack_opts *opts,
                                              struct gw_arena *arena, struct gw_delivery *out);

struct gw_poll_ctx;

/* Drains the configured IMAP mailboxes (poller thread); returns the next interval. */
int gw_email_poll(struct gw_poll_ctx *ctx);

/* ---- charsets and encoded words (email_decode.c); results in UTF-8 ---- */

/* The charset raw 8-bit header bytes seem to be in: GB18030, windows-1252 or UTF-8. */
const char *gw_email_guess_charset(const char *raw);
/* Text of unknown charset as valid UTF-8, arena-owned (len < 0: NUL-terminated). */
char *gw_email_to_utf8(const char *in, long len, struct gw_arena *arena);
/* The charset a label means in practice for these bytes (GB2312 -> GB18030 ...). */
const char *gw_email_charset_meant(const char *label, const unsigned char *bytes, size_t n);
/* Labelled bytes as UTF-8, read as meant; g_malloc'd (g_free), NULL if they do not convert. */
char *gw_email_convert_labelled(const unsigned char *bytes, size_t n, const char *label,
                                size_t *out_len);
/* An unstructured header's RFC 2047 words decoded leniently; g_malloc'd (g_free). */
char *gw_email_decode_words(const char *value);

/* One-time library set-up (GMime, libxml2). */
enum gw_err gw_email_init(void);

#endif
