/*
 * RFC 5322 / MIME to a contact, with GMime 3. GMime does the hard parts
 * (structure, RFC 2047 words, transfer encodings, charsets); this file picks
 * what a help desk needs: who wrote, what about, the text, the attachments,
 * the threading ids, and whether the mail is automatic (no acknowledgement).
 * Anything undecodable is kept losslessly: text that is not valid UTF-8 after
 * conversion is tried in common legacy charsets, then repaired with U+FFFD
 * (email_decode.c); the raw bytes are stored with the message in any case.
 * Real mail breaks the rules in known ways, and is read as mail clients read
 * it: lines before the headers, a From without an address, encoded words
 * with spaces, charset labels that name a subset of what was written.
 */
#include <gmime/gmime.h>
#include <openssl/evp.h>
#include <iconv.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "email.h"
#include "email_desk.h"
#include "gw_validate.h"

#define MAX_ATTACHMENTS 256
#define MAX_REFS        64

/* Tried in order for undeclared or wrongly declared 8-bit text. */
static const char *const fallback_charsets[] = {"UTF-8",     "GB18030",      "Big5",
                                                "Shift_JIS", "windows-1252", NULL};

/*
 * glibc loads a charset's converter (a gconv module, dlopen'd) on iconv_open
 * and unloads it soon after the last descriptor using it closes. GMime opens
 * and closes a descriptor per conversion, and tries every fallback charset
 * on 8-bit header text, so each such header cost a dlopen and dlclose of four
 * modules: the fuzzer measured the mail parser at 80-250 messages/s, most of
 * it in the dynamic loader. One descriptor per charset we read, held for the
 * life of the process, keeps their modules loaded.
 */
static void pin_charset_converters(void)
{
    static const char *const pinned[] = {"GB18030", "BIG5", "BIG5-HKSCS", "SHIFT_JIS", "CP932",
                                         "CP949",   "EUC-KR", "WINDOWS-1252", "ISO-8859-1",
                                         "UTF-7",   "ISO-2022-JP"};
    static iconv_t held[G_N_ELEMENTS(pinned)];
    for (size_t i = 0; i < G_N_ELEMENTS(pinned); i++)
        if (!held[i] || held[i] == (iconv_t)-1)
            held[i] = iconv_open("UTF-8", pinned[i]); /* a charset glibc lacks stays unpinned */
}

enum gw_err gw_email_init(void)
{
    g_mime_init();
    pin_charset_converters();
    return GW_OK;
}

static void sha256(const unsigned char *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* The first mailbox of an address list, lower-cased and validated; NULL if none. */
static InternetAddressMailbox *first_mailbox(InternetAddressList *list)
{
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            return INTERNET_ADDRESS_MAILBOX(ia);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            InternetAddressMailbox *m =
                first_mailbox(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));
            if (m)
                return m;
        }
    }
    return NULL;
}

struct walk {
    struct gw_arena *arena;
    GMimeObject *plain, *html; /* body candidates */
    GMimeObject *plain_parent, *html_parent;
    GHashTable *parent_of; /* every part -> its multipart, to walk up from a leaf */
    GMimeObject *leaves[MAX_ATTACHMENTS + 2];
    GMimeObject *parents[MAX_ATTACHMENTS + 2];
    size_t n_leaves;
    bool too_many;
};

static void collect(GMimeObject *parent, GMimeObject *part, gpointer user)
{
    struct walk *w = user;
    if (parent)
        g_hash_table_insert(w->parent_of, part, parent);
    if (GMIME_IS_MULTIPART(part))
        return; /* foreach visits the children itself */
    bool inline_text = GMIME_IS_TEXT_PART(part) && !g_mime_part_is_attachment(GMIME_PART(part));
    GMimeContentType *ct = g_mime_object_get_content_type(part);
    if (inline_text && !w->plain && g_mime_content_type_is_type(ct, "text", "plain")) {
        w->plain = part;
        w->plain_parent = parent;
        return;
    }
    if (inline_text && !w->html && g_mime_content_type_is_type(ct, "text", "html")) {
        w->html = part;
        w->html_parent = parent;
        return;
    }
    if (w->n_leaves < MAX_ATTACHMENTS + 2) {
        w->parents[w->n_leaves] = parent;
        w->leaves[w->n_leaves++] = part;
    } else {
        w->too_many = true;
    }
}

/* Decoded content of a leaf (or the forwarded message of a message part). */
static GByteArray *leaf_bytes(GMimeObject *leaf)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    if (GMIME_IS_PART(leaf)) {
        GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(leaf));
        if (dw)
            g_mime_data_wrapper_write_to_stream(dw, mem);
    } else if (GMIME_IS_MESSAGE_PART(leaf)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(leaf));
        if (inner)
            g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
    } else {
        g_mime_object_write_to_stream(leaf, NULL, mem);
    }
    GByteArray *bytes = g_byte_array_new();
    g_byte_array_append(bytes, g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->data,
                        g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->len);
    g_object_unref(mem);
    return bytes;
}

/*
 * The text of a part from its decoded bytes. GMime's own conversion drops
 * bytes that are invalid in the declared charset; converting here keeps them
 * (repaired or reinterpreted). Labels are read as meant (charset_meant):
 * senders that say ISO-8859-1 mean windows-1252, and so on.
 */
static char *part_text(GMimeObject *part, struct gw_arena *arena)
{
    GByteArray *bytes = leaf_bytes(part);
    if (!bytes->len) { /* no text (and no bytes to convert: data is NULL) */
        g_byte_array_unref(bytes);
        return NULL;
    }
    const char *cs = g_mime_object_get_content_type_parameter(part, "charset");
    char *r = NULL;
    if (cs && g_ascii_strcasecmp(cs, "utf-8") && g_ascii_strcasecmp(cs, "utf8")) {
        gsize out_len = 0;
        gchar *conv = gw_email_convert_labelled(bytes->data, bytes->len, cs, &out_len);
        if (!conv && !g_ascii_strcasecmp(gw_email_charset_meant(cs, bytes->data, bytes->len),
                                         "windows-1252"))
            conv = g_convert((const gchar *)bytes->data, (gssize)bytes->len, "UTF-8", "ISO-8859-1",
                             NULL, &out_len, NULL);
        if (conv) {
            r = gw_arena_strndup(arena, conv, out_len);
            g_free(conv);
        }
    }
    if (!r)
        r = gw_email_to_utf8((const char *)bytes->data, (gssize)bytes->len, arena);
    g_byte_array_unref(bytes);
    return r;
}

static void fill_attachment(GMimeObject *leaf, struct gw_arena *arena, struct gw_attachment *a)
{
    GMimeContentType *ct = g_mime_object_get_content_type(leaf);
    char *mime = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
    a->content_type = mime ? gw_email_to_utf8(mime, -1, arena) : "application/octet-stream";
    g_free(mime);
    const char *name = GMIME_IS_PART(leaf) ? g_mime_part_get_filename(GMIME_PART(leaf)) : NULL;
    if (!name) {
        GMimeContentDisposition *disp = g_mime_object_get_content_disposition(leaf);
        name = disp ? g_mime_content_disposition_get_parameter(disp, "filename") : NULL;
        if (!name)
            name = g_mime_object_get_content_type_parameter(leaf, "name");
    }
    a->filename = name ? gw_email_to_utf8(name, -1, arena) : NULL;
    GByteArray *bytes = leaf_bytes(leaf);
    a->size = bytes->len;
    sha256(bytes->data, bytes->len, a->sha256);
    a->data = NULL; /* the raw message keeps the bytes */
    g_byte_array_unref(bytes);
}

/*
 * True when a part sits under the multipart/alternative that holds the body:
 * another rendering of it, possibly nested (alternative > related > html).
 */
static bool is_alternative_of(const struct walk *w, GMimeObject *parent, GMimeObject *body_parent)
{
    GMimeContentType *ct = body_parent ? g_mime_object_get_content_type(body_parent) : NULL;
    if (!ct || !g_mime_content_type_is_type(ct, "multipart", "alternative"))
        return false;
    for (int depth = 0; parent && depth < 64; depth++) {
        if (parent == body_parent)
            return true;
        parent = g_hash_table_lookup(w->parent_of, parent);
    }
    return false;
}

/* Leaves that are neither the body nor an alternative rendering of it. */
static void take_attachments(struct walk *w, GMimeObject *body_parent, struct gw_contact *c)
{
    struct gw_attachment *list = gw_arena_zalloc(w->arena, (w->n_leaves + 1) * sizeof(*list));
    size_t n = 0;
    for (size_t i = 0; list && i < w->n_leaves && n < MAX_ATTACHMENTS; i++) {
        GMimeObject *leaf = w->leaves[i];
        bool alternative = is_alternative_of(w, w->parents[i], body_parent) &&
                           GMIME_IS_TEXT_PART(leaf) && !g_mime_part_is_attachment(GMIME_PART(leaf));
        if (!alternative)
            fill_attachment(leaf, w->arena, &list[n++]);
    }
    c->attachments = list;
    c->n_attachments = n;
}

static const char *header(GMimeMessage *m, const char *name)
{
    return g_mime_object_get_header(GMIME_OBJECT(m), name);
}

/* Mail its sender's software marks as written by no person: an auto-reply, a list's. */
static const char *robot_reason(GMimeMessage *m)
{
    const char *v;
    if ((v = header(m, "Auto-Submitted"))) {
        while (*v == ' ' || *v == '\t')
            v++;
        if (g_ascii_strncasecmp(v, "no", 2) || g_ascii_isalnum(v[2]) || v[2] == '-')
            return "Auto-Submitted";
    }
    if ((v = header(m, "Precedence")) &&
        (strcasestr(v, "bulk") || strcasestr(v, "junk") || strcasestr(v, "list")))
        return "Precedence";
    if (header(m, "List-Id") || header(m, "List-Unsubscribe"))
        return "mailing list";
    return NULL;
}

/* Why this mail must not be answered automatically (RFC 3834 and common practice). */
static const char *automatic_reason(GMimeMessage *m, const char *from_addr,
                                    const struct gw_email_opts *opts)
{
    const char *v = robot_reason(m);
    if (v)
        return v;
    if ((v = header(m, "Return-Path")) && strstr(v, "<>"))
        return "empty Return-Path";
    if (header(m, GW_EMAIL_LOOP_HEADER))
        return "our own message";
    if (from_addr) {
        if (!g_ascii_strncasecmp(from_addr, "mailer-daemon@", 14) ||
            !g_ascii_strncasecmp(from_addr, "postmaster@", 11) ||
            !g_ascii_strncasecmp(from_addr, "noreply@", 8) ||
            !g_ascii_strncasecmp(from_addr, "no-reply@", 9))
            return "automatic sender";
        if (opts->own_address && !g_ascii_strcasecmp(from_addr, opts->own_address))
            return "our own address";
    }
    GMimeObject *top = g_mime_message_get_mime_part(m);
    GMimeContentType *ct = top ? g_mime_object_get_content_type(top) : NULL;
    if (ct && g_mime_content_type_is_type(ct, "multipart", "report"))
        return "delivery report";
    return NULL;
}

/*
 * An unstructured header (Subject), first occurrence. Decoded leniently
 * (decode_words_leniently), which reads what mailers really write; GMime's
 * decoding, with a charset guess for raw 8-bit bytes, stands in when the
 * lenient one had to repair bytes (U+FFFD) and GMime's did not.
 */
static const char *decode_unstructured(GMimeMessage *m, const char *name, struct gw_arena *arena)
{
    GMimeHeader *h =
        g_mime_header_list_get_header(g_mime_object_get_header_list(GMIME_OBJECT(m)), name);
    const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
    if (!raw)
        return NULL;
    GString *unfolded = g_string_new(NULL);
    for (const char *p = raw; *p; p++)
        if (*p != '\r' && *p != '\n')
            g_string_append_c(unfolded, *p);
    g_strstrip(unfolded->str);
    const char *charsets[] = {"UTF-8", gw_email_guess_charset(unfolded->str), NULL};
    GMimeParserOptions *po = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(po, charsets);
    char *joined = g_mime_utils_header_decode_text(po, unfolded->str);
    char *lenient = gw_email_decode_words(unfolded->str);
    g_mime_parser_options_free(po);
    g_string_free(unfolded, TRUE);
    const char *best = lenient;
    if (!lenient || !g_utf8_validate(lenient, -1, NULL) ||
        (strstr(lenient, "\xEF\xBF\xBD") && joined && !strstr(joined, "\xEF\xBF\xBD")))
        best = joined;
    const char *r = best ? gw_email_to_utf8(best, -1, arena) : NULL;
    g_free(joined);
    g_free(lenient);
    return r;
}

static GMimeMessage *parse_message(const unsigned char *raw, size_t len)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeParserOptions *po = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(po, (const char **)fallback_charsets);
    GMimeMessage *m = g_mime_parser_construct_message(parser, po);
    g_mime_parser_options_free(po);
    g_object_unref(parser);
    g_object_unref(stream);
    return m;
}

/*
 * The Message-ID a delivery report (RFC 3464) is about: it comes back in the
 * report's message/rfc822 or text/rfc822-headers part.
 */
static const char *reported_message_id(GMimeMessage *m, struct gw_arena *arena)
{
    GMimeObject *top = g_mime_message_get_mime_part(m);
    if (!top || !GMIME_IS_MULTIPART(top))
        return NULL;
    GMimeContentType *ct = g_mime_object_get_content_type(top);
    if (!g_mime_content_type_is_type(ct, "multipart", "report"))
        return NULL;
    int n = g_mime_multipart_get_count(GMIME_MULTIPART(top));
    for (int i = 0; i < n; i++) {
        GMimeObject *part = g_mime_multipart_get_part(GMIME_MULTIPART(top), i);
        GMimeContentType *pct = g_mime_object_get_content_type(part);
        const char *id = NULL;
        GMimeMessage *inner = NULL;
        if (GMIME_IS_MESSAGE_PART(part)) {
            GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
            id = msg ? g_mime_message_get_message_id(msg) : NULL;
        } else if (g_mime_content_type_is_type(pct, "text", "rfc822-headers")) {
            GByteArray *bytes = leaf_bytes(part);
            g_byte_array_append(bytes, (const guint8 *)"\r\n\r\n", 4);
            inner = parse_message(bytes->data, bytes->len);
            g_byte_array_unref(bytes);
            id = inner ? g_mime_message_get_message_id(inner) : NULL;
        }
        const char *r = id && *id ? gw_email_to_utf8(id, -1, arena) : NULL;
        if (inner)
            g_object_unref(inner);
        if (r)
            return r;
    }
    return NULL;
}

/* "[SR-000123]" in a subject: the ticket number, arena-owned, or NULL. */
static const char *ticket_tag(const char *subject, const char *prefix, struct gw_arena *arena)
{
    size_t pl = prefix ? strlen(prefix) : 0;
    for (const char *p = subject ? strchr(subject, '[') : NULL; p && pl; p = strchr(p + 1, '[')) {
        if (strncmp(p + 1, prefix, pl))
            continue;
        const char *d = p + 1 + pl;
        size_t n = strspn(d, "0123456789");
        if (n > 0 && n < 16 && d[n] == ']')
            return gw_arena_strndup(arena, p + 1, pl + n);
    }
    return NULL;
}

static void thread_refs(GMimeMessage *m, struct gw_arena *arena, struct gw_contact *c)
{
    const char **refs = gw_arena_zalloc(arena, (MAX_REFS + 1) * sizeof(*refs));
    size_t n = 0;
    const char *names[] = {"In-Reply-To", "References"};
    for (size_t h = 0; refs && h < 2; h++) {
        const char *v = header(m, names[h]);
        GMimeReferences *list = v ? g_mime_references_parse(NULL, v) : NULL;
        int count = list ? g_mime_references_length(list) : 0;
        /* The newest references are last: take those first. */
        for (int i = count - 1; i >= 0 && n < MAX_REFS; i--) {
            const char *id = g_mime_references_get_message_id(list, i);
            if (id && *id)
                refs[n++] = gw_email_to_utf8(id, -1, arena);
        }
        if (list)
            g_mime_references_free(list);
    }
    c->thread_refs = refs;
    c->n_thread_refs = n;
}

/*
 * A stable id for mail without a Message-ID: the same message delivered
 * twice (with different Received lines) must map to the same key.
 */
static const char *derived_message_id(GMimeMessage *m, const char *body, struct gw_arena *arena)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    const char *parts[] = {header(m, "From"), header(m, "To"), header(m, "Date"),
                           header(m, "Subject"), body};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (parts[i])
            g_checksum_update(ck, (const guchar *)parts[i], (gssize)strlen(parts[i]));
        g_checksum_update(ck, (const guchar *)"\n", 1);
    }
    char *id = gw_arena_printf(arena, "%s@derived.intake", g_checksum_get_string(ck));
    g_checksum_free(ck);
    return id;
}

/*
 * Mail systems deliver addresses our API would call typos (user@localhost,
 * "Name a@b.c" without brackets). What arrived is what we answer to: accept
 * any local@domain without white space, lower-cased.
 */
static const char *lenient_address(const char *in, struct gw_arena *arena)
{
    const char *strict = gw_normalize_email(arena, in);
    if (strict)
        return strict;
    const char *at = strchr(in, '@');
    size_t n = strlen(in);
    if (!at || at == in || !at[1] || strchr(at + 1, '@') || n > 254 || strpbrk(in, " \t\r\n<>"))
        return NULL;
    char *out = gw_arena_strndup(arena, in, n);
    for (char *p = out; p && *p; p++)
        *p = g_ascii_tolower(*p);
    return out;
}

const char *gw_email_address_of(const char *in, struct gw_arena *arena)
{
    return lenient_address(in, arena);
}

/* The first word with an "@" in a header GMime could not read as an address. */
static const char *address_in_text(const char *text, struct gw_arena *arena)
{
    if (!text)
        return NULL;
    gchar **words = g_strsplit_set(text, " \t\r\n<>\"',;()", -1);
    const char *found = NULL;
    for (gchar **w = words; *w && !found; w++)
        if (strchr(*w, '@'))
            found = lenient_address(*w, arena);
    g_strfreev(words);
    return found;
}

#define MAX_CC 50

/* Cc addresses, lower-cased, so that a copied colleague can reply on the ticket. */
static void fill_cc(GMimeMessage *m, struct gw_arena *arena, struct gw_contact *c)
{
    InternetAddressList *list = g_mime_message_get_cc(m);
    int n = list ? internet_address_list_length(list) : 0;
    const char **cc = gw_arena_zalloc(arena, (MAX_CC + 1) * sizeof(*cc));
    size_t k = 0;
    for (int i = 0; cc && i < n && k < MAX_CC; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
            continue;
        const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        const char *norm = addr ? lenient_address(addr, arena) : NULL;
        if (norm)
            cc[k++] = norm;
    }
    c->cc = cc;
    c->n_cc = k;
}

/*
 * The display name of a From that GMime could not read as an address (it
 * refuses `"我" <>`): the text before the '<', unquoted and decoded; NULL
 * when there is none.
 */
static const char *name_in_text(const char *text, struct gw_arena *arena)
{
    const char *lt = text ? strchr(text, '<') : NULL;
    if (!lt)
        return NULL;
    gchar *raw = g_strndup(text, (gsize)(lt - text));
    g_strstrip(raw);
    size_t n = strlen(raw);
    if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"') {
        raw[n - 1] = '\0';
        memmove(raw, raw + 1, n - 1);
    }
    gchar *decoded = *raw ? gw_email_decode_words(raw) : NULL;
    const char *r = decoded && *decoded ? gw_email_to_utf8(decoded, -1, arena) : NULL;
    g_free(decoded);
    g_free(raw);
    return r;
}

/* A mailbox's address, lower-cased and validated; NULL when absent or unusable ("<>"). */
static const char *mailbox_address(InternetAddressMailbox *mb, struct gw_arena *arena)
{
    const char *addr = mb ? internet_address_mailbox_get_addr(mb) : NULL;
    return addr && *addr ? lenient_address(addr, arena) : NULL;
}

/*
 * Who wrote: From's address, else an address written in From some other
 * way, else Sender or Reply-To (a From with no address, `"我" <>`, still
 * names a person who can be answered there), else the envelope sender the
 * MTA recorded. The name is From's.
 */
static void fill_sender(GMimeMessage *m, struct gw_arena *arena, struct gw_contact *c)
{
    InternetAddressMailbox *from = first_mailbox(g_mime_message_get_from(m));
    InternetAddressMailbox *sender = first_mailbox(g_mime_message_get_sender(m));
    InternetAddressMailbox *reply = first_mailbox(g_mime_message_get_reply_to(m));
    const char *name = from ? internet_address_get_name(INTERNET_ADDRESS(from)) : NULL;
    if (!name || !*name)
        name = sender ? internet_address_get_name(INTERNET_ADDRESS(sender)) : NULL;
    if (name && *name)
        c->sender.name = gw_email_to_utf8(name, -1, arena);
    else
        c->sender.name = name_in_text(header(m, "From"), arena);
    c->sender.email = mailbox_address(from, arena);
    if (!c->sender.email)
        c->sender.email = address_in_text(header(m, "From"), arena);
    if (!c->sender.email)
        c->sender.email = mailbox_address(sender, arena);
    if (!c->sender.email)
        c->sender.email = mailbox_address(reply, arena);
    if (!c->sender.email) {
        const char *path = header(m, "Return-Path");
        InternetAddressList *rp = path ? internet_address_list_parse(NULL, path) : NULL;
        c->sender.email = mailbox_address(first_mailbox(rp), arena);
        if (rp)
            g_object_unref(rp);
    }
    c->reply_handle = mailbox_address(reply, arena);
    if (!c->reply_handle)
        c->reply_handle = c->sender.email;
}

/* Whether a line starts like a header field: a name of printable characters, then ':'. */
static bool is_header_line(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] > ' ' && p[i] < 0x7F && p[i] != ':')
        i++;
    return i > 0 && i < n && p[i] == ':';
}

#define MAX_PREFIX_LINES 8
#define MAX_PREFIX_BYTES 4096

/*
 * A message that begins with lines that are not headers (a forwarding
 * script's "---- Original email message ----", an mbox "From " line) and
 * then carries its headers: parsed from its first header line. Only the
 * first few lines are looked at; a text with no header there is no message.
 */
static GMimeMessage *parse_after_prefix(const unsigned char *raw, size_t len)
{
    const unsigned char *p = raw, *end = raw + (len < MAX_PREFIX_BYTES ? len : MAX_PREFIX_BYTES);
    for (int line = 0; line < MAX_PREFIX_LINES && p < end; line++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        if (is_header_line(p, (size_t)(nl - p)))
            return p == raw ? NULL : parse_message(p, len - (size_t)(p - raw));
        p = nl + 1;
    }
    return NULL;
}

/* Mail dated before 1980 or more than a day ahead was written by a broken clock. */
#define EARLIEST_DATE 315532800

bool gw_email_date_is_sane(long long t)
{
    return t >= EARLIEST_DATE && t <= (long long)time(NULL) + 86400;
}

/* When the message says it was written; 0 when it does not say, or says nonsense. */
static time_t written_at(GMimeMessage *m)
{
    GDateTime *date = g_mime_message_get_date(m);
    gint64 t = date ? g_date_time_to_unix(date) : 0;
    return gw_email_date_is_sane(t) ? (time_t)t : 0;
}

enum gw_err gw_email_parse(const unsigned char *raw, size_t len, const struct gw_email_opts *opts,
                           struct gw_arena *arena, struct gw_contact *c, const char **reason)
{
    memset(c, 0, sizeof(*c));
    GMimeMessage *m = parse_message(raw, len);
    if (!m)
        m = parse_after_prefix(raw, len);
    if (!m) {
        *reason = "not an RFC 5322 message";
        return GW_ERR_INVALID;
    }
    c->channel = GW_EMAIL_CHANNEL;
    c->raw = raw;
    c->raw_len = len;
    c->received_at = opts->date_written ? written_at(m) : time(NULL);
    fill_sender(m, arena, c);
    fill_cc(m, arena, c);
    if (opts->desk && (opts->from_desk || gw_email_desk_has(opts->desk, c->sender.email)))
        gw_email_desk_fill(opts->desk, m, arena, c);

    c->subject = decode_unstructured(m, "Subject", arena);

    struct walk w = {.arena = arena, .parent_of = g_hash_table_new(NULL, NULL)};
    g_mime_message_foreach(m, collect, &w);
    GMimeObject *body_parent = w.plain ? w.plain_parent : w.html_parent;
    /* HTML beside a plain body is its alternative rendering only inside multipart/alternative. */
    if (w.plain && w.html && !is_alternative_of(&w, w.html_parent, w.plain_parent))
        collect(w.html_parent, w.html, &w);
    char *text = NULL;
    if (w.plain)
        text = part_text(w.plain, arena);
    else if (w.html) {
        char *html = part_text(w.html, arena);
        text = html ? gw_email_html_to_text(html, strlen(html), arena) : NULL;
    }
    c->body = text ? text : "";
    c->summary = gw_email_strip_quotes(c->body, arena);
    take_attachments(&w, body_parent, c);

    const char *mid = g_mime_message_get_message_id(m);
    if (!mid || !*mid)
        mid = derived_message_id(m, c->body, arena);
    c->external_ref = gw_email_to_utf8(mid, -1, arena);
    c->idempotency_key = gw_arena_printf(arena, "email:%s", c->external_ref);
    thread_refs(m, arena, c);
    c->ticket_ref = ticket_tag(c->subject, opts->ticket_prefix, arena);
    /* The desk's own mail is automatic when its software says so (our loop header aside). */
    c->no_ack_reason = c->outbound ? robot_reason(m) : automatic_reason(m, c->sender.email, opts);
    c->bounce_of = c->outbound ? NULL : reported_message_id(m, arena);
    g_hash_table_destroy(w.parent_of);
    g_object_unref(m);

    /* Nobody to answer, but the message is still a ticket for an agent to read. */
    if (!c->sender.email && !c->outbound) {
        c->no_ack_reason = "no sender address";
        if (!c->sender.name)
            c->sender.name = "(no sender address)";
    }
    if (!c->idempotency_key || w.too_many) {
        *reason = w.too_many ? "more than 256 attachments" : "out of memory";
        return GW_ERR_INVALID;
    }
    return GW_OK;
}
