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

struct gw_email_desk;

/* What the parser needs to know about this gateway. */
struct gw_email_opts {
    const char *own_address;   /* the address acknowledgements come from; never acked */
    const char *ticket_prefix; /* "SR-": finds [SR-000123] in subjects */
    /*
     * received_at is when the message says it was written (its Date), for
     * mail from an archive; 0 when it has no usable date. Otherwise: now.
     */
    bool date_written;
    /*
     * The desk's own addresses (import-mail; email_desk.h), or NULL: a
     * message from one of them, or any message when from_desk (it lies in a
     * Sent folder), is the desk's own (gw_contact.outbound).
     */
    const struct gw_email_desk *desk;
    bool from_desk;
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

/* Whether a message's date (seconds since 1970) can be true: 1980 to a day ahead. */
bool gw_email_date_is_sane(long long t);

/* ---- mail archives (email_archive.c): an mbox file or a Maildir folder ---- */

/* One message of an archive. */
struct gw_mail_entry {
    unsigned long long offset; /* mbox: where its "From " line starts */
    unsigned long long start;  /* mbox: its bytes are [start, end) of the file */
    unsigned long long end;
    const char *name;          /* Maildir: its file, relative to the folder */
    long long date;            /* for the import order: its Date, else archive_date */
    long long archive_date;    /* the mbox "From " line's or the Maildir file's; 0: none */
    unsigned long long id;     /* hashes of its Message-ID, of the message it answers */
    unsigned long long parent; /* and of its thread's first message; 0: none */
    unsigned long long root;
    unsigned long long sender; /* hash of its From address; 0: none */
    /*
     * Hash of the sender who began its thread in the archive: messages of
     * one thread, and most of one customer's, share it (the import's
     * connections split the work by it).
     */
    unsigned long long thread_key;
    unsigned number; /* 1-based, in the archive's own order */
    bool from_desk;  /* it lies in a Sent folder: the desk's own, whatever its From */
};

struct gw_mail_archive;

/*
 * Opens an mbox file or a Maildir folder (with its Maildir++ subfolders) and
 * lists its messages. Returns 0, or a sysexits code (EX_NOINPUT: cannot be
 * read; EX_DATAERR: neither) with why, a sentence naming path.
 */
int gw_mail_archive_open(const char *path, struct gw_mail_archive **out, char *why, size_t cap);
void gw_mail_archive_close(struct gw_mail_archive *archive);
size_t gw_mail_archive_count(const struct gw_mail_archive *archive);
const char *gw_mail_archive_kind(const struct gw_mail_archive *archive); /* "mbox", "Maildir" */
/* The Maildir++ subfolders left out (".Sent, .Trash"), or NULL: see email_archive.c. */
const char *gw_mail_archive_left_out(const struct gw_mail_archive *archive);
/*
 * Reads every message's headers and decides the import order
 * (email_archive_order.c); desk: the desk's addresses (NULL: none), whose
 * messages go with the customer they were written to.
 */
GW_MUST_USE enum gw_err gw_mail_archive_order(struct gw_mail_archive *archive,
                                              const struct gw_email_desk *desk);
/* The i-th message in import order (archive order before gw_mail_archive_order). */
const struct gw_mail_entry *gw_mail_archive_entry(const struct gw_mail_archive *archive, size_t i);
/*
 * A message's bytes as they were before the mbox escaped them (">From "),
 * the archive's or arena-owned; NULL with *why when it cannot be read.
 * max: larger messages are refused. Safe from one thread at a time.
 */
const unsigned char *gw_mail_archive_read(const struct gw_mail_archive *archive,
                                          const struct gw_mail_entry *entry, size_t max,
                                          struct gw_arena *arena, size_t *len, const char **why);
/* Where a message is, for a person: "message 12 (byte offset 3456)"; arena-owned. */
const char *gw_mail_archive_where(const struct gw_mail_archive *archive,
                                  const struct gw_mail_entry *entry, struct gw_arena *arena);

/* `intake import-mail` (email_import.c). */
int gw_email_import_command(int argc, char **argv, const struct gw_config *cfg);

/* One-time library set-up (GMime, libxml2). */
enum gw_err gw_email_init(void);

#endif
