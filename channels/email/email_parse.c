/*
 * RFC 5322 / MIME to a contact, with GMime 3. GMime does the hard parts
 * (structure, RFC 2047 words, transfer encodings, charsets); this file picks
 * what a help desk needs: who wrote, what about, the text, the attachments,
 * the threading ids, and whether the mail is automatic (no acknowledgement).
 * Anything undecodable is kept losslessly: text that is not valid UTF-8 after
 * conversion is tried in common legacy charsets, then repaired with U+FFFD;
 * the raw bytes are stored with the message in any case.
 */
#include <gmime/gmime.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "email.h"
#include "gw_validate.h"

#define MAX_ATTACHMENTS 256
#define MAX_REFS        64

/* Tried in order for undeclared or wrongly declared 8-bit text. */
static const char *const fallback_charsets[] = {"UTF-8",     "GB18030",      "Big5",
                                                "Shift_JIS", "windows-1252", NULL};

enum gw_err gw_email_init(void)
{
    g_mime_init();
    return GW_OK;
}

/*
 * Raw 8-bit bytes in a header carry no charset. Chinese mail of that kind is
 * GB2312 (or GBK using its common part): every byte >= 0x80 is the first of
 * a pair in 0xA1-0xF7 / 0xA1-0xFE.
 * Latin text in windows-1252 almost never forms such pairs throughout
 * ("Formação" does, "Verão" does not), so a strict pair check decides.
 */
static const char *guess_charset(const char *raw)
{
    const unsigned char *p = (const unsigned char *)raw;
    bool high = false;
    while (*p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        high = true;
        if (!(p[0] >= 0xA1 && p[0] <= 0xF7 && p[1] >= 0xA1 && p[1] <= 0xFE))
            return "windows-1252";
        p += 2;
    }
    return high ? "GB18030" : "UTF-8";
}

/* True when the bytes hold at least one well-formed multi-byte UTF-8 sequence. */
static bool has_utf8_sequence(const char *in, gssize len)
{
    const unsigned char *p = (const unsigned char *)in, *end = p + len;
    for (; p + 1 < end; p++) {
        int n = (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (n && p + n <= end && g_utf8_validate((const gchar *)p, n, NULL))
            return true;
    }
    return false;
}

/*
 * UTF-8 for text in an unknown state: as is when valid; GB2312 when every
 * high byte forms a GB pair; UTF-8 with a few broken bytes is repaired
 * (U+FFFD marks each); other text is read as windows-1252.
 */
static char *to_utf8(const char *in, gssize len, struct gw_arena *arena)
{
    if (!in)
        return NULL;
    if (len < 0)
        len = (gssize)strlen(in);
    if (g_utf8_validate(in, len, NULL))
        return gw_arena_strndup(arena, in, (size_t)len);
    char *copy = g_strndup(in, (gsize)len);
    const char *cs = guess_charset(copy);
    g_free(copy);
    /* GB pairs throughout beat stray UTF-8 look-alikes ("\xD3\xA1" is both). */
    if (!strcmp(cs, "GB18030") || !has_utf8_sequence(in, len)) {
        gsize out_len = 0;
        gchar *conv = g_convert(in, len, "UTF-8", cs, NULL, &out_len, NULL);
        if (!conv)
            conv = g_convert(in, len, "UTF-8", "ISO-8859-1", NULL, &out_len, NULL);
        if (conv) {
            char *r = gw_arena_strndup(arena, conv, out_len);
            g_free(conv);
            return r;
        }
    }
    gchar *fixed = g_utf8_make_valid(in, len);
    char *r = gw_arena_strdup(arena, fixed);
    g_free(fixed);
    return r;
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
 * (repaired or reinterpreted). Latin-1 labels are read as windows-1252, as
 * browsers and mail clients do: senders that say ISO-8859-1 mean it.
 */
static char *part_text(GMimeObject *part, struct gw_arena *arena)
{
    GByteArray *bytes = leaf_bytes(part);
    const char *cs = g_mime_object_get_content_type_parameter(part, "charset");
    const char *canon = cs ? g_mime_charset_canon_name(cs) : NULL;
    if (canon &&
        (!g_ascii_strcasecmp(canon, "iso-8859-1") || !g_ascii_strcasecmp(canon, "us-ascii")))
        canon = "windows-1252";
    char *r = NULL;
    if (canon && g_ascii_strcasecmp(canon, "utf-8")) {
        gsize out_len = 0;
        gchar *conv = g_convert((const gchar *)bytes->data, (gssize)bytes->len, "UTF-8", canon,
                                NULL, &out_len, NULL);
        if (!conv && !g_ascii_strcasecmp(canon, "windows-1252"))
            conv = g_convert((const gchar *)bytes->data, (gssize)bytes->len, "UTF-8", "ISO-8859-1",
                             NULL, &out_len, NULL);
        if (conv) {
            r = gw_arena_strndup(arena, conv, out_len);
            g_free(conv);
        }
    }
    if (!r)
        r = to_utf8((const char *)bytes->data, (gssize)bytes->len, arena);
    g_byte_array_unref(bytes);
    return r;
}

static void fill_attachment(GMimeObject *leaf, struct gw_arena *arena, struct gw_attachment *a)
{
    GMimeContentType *ct = g_mime_object_get_content_type(leaf);
    char *mime = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
    a->content_type = mime ? to_utf8(mime, -1, arena) : "application/octet-stream";
    g_free(mime);
    const char *name = GMIME_IS_PART(leaf) ? g_mime_part_get_filename(GMIME_PART(leaf)) : NULL;
    if (!name) {
        GMimeContentDisposition *disp = g_mime_object_get_content_disposition(leaf);
        name = disp ? g_mime_content_disposition_get_parameter(disp, "filename") : NULL;
        if (!name)
            name = g_mime_object_get_content_type_parameter(leaf, "name");
    }
    a->filename = name ? to_utf8(name, -1, arena) : NULL;
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

/* Why this mail must not be answered automatically (RFC 3834 and common practice). */
static const char *automatic_reason(GMimeMessage *m, const char *from_addr,
                                    const struct gw_email_opts *opts)
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

/* Q encoding: "_" is a space, "=XX" a byte, the rest as is. */
static void q_decode(GByteArray *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '_') {
            g_byte_array_append(out, (const guint8 *)" ", 1);
        } else if (p[i] == '=' && i + 2 < n && g_ascii_isxdigit(p[i + 1]) &&
                   g_ascii_isxdigit(p[i + 2])) {
            guint8 b =
                (guint8)(g_ascii_xdigit_value(p[i + 1]) * 16 + g_ascii_xdigit_value(p[i + 2]));
            g_byte_array_append(out, &b, 1);
            i += 2;
        } else {
            g_byte_array_append(out, (const guint8 *)&p[i], 1);
        }
    }
}

/* Converts the bytes collected for one charset and appends them. */
static void flush_words(GString *out, GByteArray *bytes, const char *charset)
{
    if (!bytes->len)
        return;
    gsize n = 0;
    gchar *conv = g_convert((const gchar *)bytes->data, (gssize)bytes->len, "UTF-8",
                            charset && *charset ? charset : "UTF-8", NULL, &n, NULL);
    if (conv) {
        g_string_append_len(out, conv, (gssize)n);
        g_free(conv);
    } else {
        gchar *fixed = g_utf8_make_valid((const gchar *)bytes->data, (gssize)bytes->len);
        g_string_append(out, fixed);
        g_free(fixed);
    }
    g_byte_array_set_size(bytes, 0);
}

/*
 * RFC 2047 words decoded the way the RFC reads: each word's bytes, with the
 * bytes of adjacent words in the same charset joined before conversion, so
 * that a character a sender split over two words survives. GMime instead
 * joins the encoded text of adjacent words before decoding, which loses the
 * rest of the header when a sender padded each base64 word; this is the
 * fallback for that case, compared with GMime's result by the caller.
 */
static char *decode_words_separately(const char *value)
{
    gchar **tokens = g_strsplit_set(value, " \t", -1);
    GString *out = g_string_new(NULL);
    GByteArray *bytes = g_byte_array_new();
    char charset[64] = "";
    bool prev_encoded = false;
    for (gchar **t = tokens; *t; t++) {
        if (!**t)
            continue;
        gchar **f = NULL;
        size_t len = strlen(*t);
        bool encoded = len > 8 && g_str_has_prefix(*t, "=?") && g_str_has_suffix(*t, "?=");
        if (encoded) {
            f = g_strsplit(*t + 2, "?", 4);
            encoded = g_strv_length(f) == 4 && strlen(f[1]) == 1 && !strcmp(f[3], "=");
        }
        if (encoded) {
            char *star = strchr(f[0], '*'); /* RFC 2231 language suffix */
            if (star)
                *star = '\0';
            if (g_ascii_strcasecmp(charset, f[0]))
                flush_words(out, bytes, charset);
            g_strlcpy(charset, f[0], sizeof(charset));
            if (!prev_encoded && out->len)
                g_string_append_c(out, ' ');
            if (g_ascii_toupper(f[1][0]) == 'B') {
                gsize n = 0;
                guchar *b = g_base64_decode(f[2], &n);
                g_byte_array_append(bytes, b, (guint)n);
                g_free(b);
            } else {
                q_decode(bytes, f[2], strlen(f[2]));
            }
        } else {
            flush_words(out, bytes, charset);
            if (out->len)
                g_string_append_c(out, ' ');
            g_string_append(out, *t);
        }
        g_strfreev(f);
        prev_encoded = encoded;
    }
    flush_words(out, bytes, charset);
    g_byte_array_unref(bytes);
    g_strfreev(tokens);
    return g_string_free(out, FALSE);
}

/*
 * An unstructured header (Subject), first occurrence, decoded by GMime with
 * a charset guess for raw 8-bit bytes. GMime joins adjacent encoded words
 * before decoding, which loses text when a sender padded each base64 word;
 * decoding the words one by one is then longer and still valid: use that.
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
    const char *charsets[] = {"UTF-8", guess_charset(unfolded->str), NULL};
    GMimeParserOptions *po = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(po, charsets);
    char *joined = g_mime_utils_header_decode_text(po, unfolded->str);
    char *separate = decode_words_separately(unfolded->str);
    g_mime_parser_options_free(po);
    g_string_free(unfolded, TRUE);
    const char *best = joined;
    if (separate && g_utf8_validate(separate, -1, NULL) && !strstr(separate, "\xEF\xBF\xBD") &&
        (!joined || strlen(separate) > strlen(joined)))
        best = separate;
    const char *r = best ? to_utf8(best, -1, arena) : NULL;
    g_free(joined);
    g_free(separate);
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
        const char *r = id && *id ? to_utf8(id, -1, arena) : NULL;
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
                refs[n++] = to_utf8(id, -1, arena);
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

static void fill_sender(GMimeMessage *m, struct gw_arena *arena, struct gw_contact *c)
{
    InternetAddressMailbox *from = first_mailbox(g_mime_message_get_from(m));
    if (!from)
        from = first_mailbox(g_mime_message_get_sender(m));
    if (from) {
        const char *addr = internet_address_mailbox_get_addr(from);
        c->sender.email = addr ? lenient_address(addr, arena) : NULL;
        const char *name = internet_address_get_name(INTERNET_ADDRESS(from));
        if (name && *name)
            c->sender.name = to_utf8(name, -1, arena);
    }
    if (!c->sender.email)
        c->sender.email = address_in_text(header(m, "From"), arena);
    if (!c->sender.email) {
        /* Last resort: the envelope sender the MTA recorded. */
        const char *path = header(m, "Return-Path");
        InternetAddressList *rp = path ? internet_address_list_parse(NULL, path) : NULL;
        InternetAddressMailbox *mb = first_mailbox(rp);
        if (mb && internet_address_mailbox_get_addr(mb))
            c->sender.email = lenient_address(internet_address_mailbox_get_addr(mb), arena);
        if (rp)
            g_object_unref(rp);
    }
    InternetAddressMailbox *reply = first_mailbox(g_mime_message_get_reply_to(m));
    const char *reply_addr = reply ? internet_address_mailbox_get_addr(reply) : NULL;
    c->reply_handle = reply_addr ? lenient_address(reply_addr, arena) : NULL;
    if (!c->reply_handle)
        c->reply_handle = c->sender.email;
}

enum gw_err gw_email_parse(const unsigned char *raw, size_t len, const struct gw_email_opts *opts,
                           struct gw_arena *arena, struct gw_contact *c, const char **reason)
{
    memset(c, 0, sizeof(*c));
    GMimeMessage *m = parse_message(raw, len);
    if (!m) {
        *reason = "not an RFC 5322 message";
        return GW_ERR_INVALID;
    }
    c->channel = GW_EMAIL_CHANNEL;
    c->raw = raw;
    c->raw_len = len;
    c->received_at = time(NULL);
    fill_sender(m, arena, c);
    fill_cc(m, arena, c);

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
    c->external_ref = to_utf8(mid, -1, arena);
    c->idempotency_key = gw_arena_printf(arena, "email:%s", c->external_ref);
    thread_refs(m, arena, c);
    c->ticket_ref = ticket_tag(c->subject, opts->ticket_prefix, arena);
    c->no_ack_reason = automatic_reason(m, c->sender.email, opts);
    c->bounce_of = reported_message_id(m, arena);
    g_hash_table_destroy(w.parent_of);
    g_object_unref(m);

    /* Nobody to answer, but the message is still a ticket for an agent to read. */
    if (!c->sender.email) {
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
