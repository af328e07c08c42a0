/*
 * Text of unknown or mislabelled charsets to UTF-8, for the email parser:
 * what a charset label means in practice, a guess for raw 8-bit bytes, and
 * RFC 2047 encoded words read the way mail clients read them. Kept apart
 * from email_parse.c, which walks the message; these work on bytes only.
 */
#include <gmime/gmime.h>
#include <string.h>

#include "email.h"

/*
 * Raw 8-bit bytes in a header carry no charset. Chinese mail of that kind is
 * GB2312 (or GBK using its common part): every byte >= 0x80 is the first of
 * a pair in 0xA1-0xF7 / 0xA1-0xFE.
 * Latin text in windows-1252 almost never forms such pairs throughout
 * ("Formação" does, "Verão" does not), so a strict pair check decides.
 */
const char *gw_email_guess_charset(const char *raw)
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
char *gw_email_to_utf8(const char *in, long len, struct gw_arena *arena)
{
    if (!in)
        return NULL;
    if (len < 0)
        len = (gssize)strlen(in);
    if (g_utf8_validate(in, len, NULL))
        return gw_arena_strndup(arena, in, (size_t)len);
    char *copy = g_strndup(in, (gsize)len);
    const char *cs = gw_email_guess_charset(copy);
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

/*
 * What a charset label means in practice: mailers label text with a charset
 * whose superset they really wrote (GB2312 for GBK or GB18030, Big5 for
 * Big5-HKSCS, ISO-8859-1 and US-ASCII for windows-1252, Shift_JIS for
 * Microsoft's CP932), or a 7-bit charset for 8-bit bytes (ISO-2022-JP for
 * Shift_JIS). Mail clients and browsers read these labels the same way.
 */
const char *gw_email_charset_meant(const char *label, const unsigned char *bytes, size_t n)
{
    static const struct {
        const char *label, *meant;
    } supersets[] = {
        {"gb2312", "GB18030"},
        {"gbk", "GB18030"},
        {"x-gbk", "GB18030"},
        {"cp936", "GB18030"},
        {"euc-cn", "GB18030"},
        {"big5", "BIG5-HKSCS"},
        {"x-x-big5", "BIG5-HKSCS"},
        {"iso-8859-1", "windows-1252"},
        {"latin1", "windows-1252"},
        {"us-ascii", "windows-1252"},
        {"ascii", "windows-1252"},
        {"shift_jis", "CP932"},
        {"sjis", "CP932"},
        {"x-sjis", "CP932"},
        {"ks_c_5601-1987", "CP949"},
        {"euc-kr", "CP949"},
        {"unicode-1-1-utf-7", "UTF-7"},
        {"x-unicode-2-0-utf-7", "UTF-7"},
        {"utf-7", "UTF-7"},
    };
    const char *canon = g_mime_charset_canon_name(label);
    for (size_t i = 0; i < G_N_ELEMENTS(supersets); i++)
        if (!g_ascii_strcasecmp(label, supersets[i].label) ||
            (canon && !g_ascii_strcasecmp(canon, supersets[i].label)))
            return supersets[i].meant;
    if (!g_ascii_strncasecmp(label, "iso-2022-jp", 11))
        for (size_t i = 0; i < n; i++)
            if (bytes[i] >= 0x80)
                return "CP932"; /* ISO-2022-JP is 7-bit: 8-bit bytes are Shift_JIS */
    return canon ? canon : label;
}

/* Bytes in a labelled charset as UTF-8 (g_malloc'd), read as meant; NULL if they are not. */
char *gw_email_convert_labelled(const unsigned char *bytes, size_t n, const char *label,
                                size_t *out_len)
{
    const char *meant = gw_email_charset_meant(label, bytes, n);
    gchar *conv = g_convert((const gchar *)bytes, (gssize)n, "UTF-8", meant, NULL, out_len, NULL);
    if (!conv && g_ascii_strcasecmp(meant, label))
        conv = g_convert((const gchar *)bytes, (gssize)n, "UTF-8", label, NULL, out_len, NULL);
    if (conv && !g_utf8_validate(conv, (gssize)*out_len, NULL)) {
        g_free(conv);
        conv = NULL;
    }
    return conv;
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
    gchar *conv = gw_email_convert_labelled(bytes->data, bytes->len,
                                            charset && *charset ? charset : "UTF-8", &n);
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
 * An encoded word at p, read the way mail clients read them rather than as
 * strictly as RFC 2047 writes them: the text may hold spaces
 * ("=?us-ascii?Q?ABC / 123?="), as some mailers write it. On a match, fills
 * the charset (without an RFC 2231 language suffix), the encoding and the
 * encoded text, and returns the length of the whole word; else 0.
 */
#define MAX_WORD_TEXT 2048
static size_t encoded_word_at(const char *p, char charset[64], char *encoding, const char **text,
                              size_t *text_len)
{
    if (p[0] != '=' || p[1] != '?')
        return 0;
    const char *cs = p + 2;
    size_t cs_len = strcspn(cs, "? \t");
    if (!cs_len || cs_len >= 64 || cs[cs_len] != '?')
        return 0;
    char enc = cs[cs_len + 1];
    if (!strchr("QqBb", enc) || !enc || cs[cs_len + 2] != '?')
        return 0;
    const char *t = cs + cs_len + 3, *end = strstr(t, "?=");
    if (!end || (size_t)(end - t) > MAX_WORD_TEXT)
        return 0;
    memcpy(charset, cs, cs_len);
    charset[cs_len] = '\0';
    char *star = strchr(charset, '*');
    if (star)
        *star = '\0';
    *encoding = (char)g_ascii_toupper(enc);
    *text = t;
    *text_len = (size_t)(end - t);
    return (size_t)(end + 2 - p);
}

/* Plain text of a header as UTF-8: as is when valid, else in the charset it seems to be. */
static void append_plain(GString *out, const char *p, size_t n)
{
    if (g_utf8_validate(p, (gssize)n, NULL)) {
        g_string_append_len(out, p, (gssize)n);
        return;
    }
    gchar *copy = g_strndup(p, n), *conv = NULL;
    gsize len = 0;
    conv = g_convert(copy, (gssize)n, "UTF-8", gw_email_guess_charset(copy), NULL, &len, NULL);
    if (!conv)
        conv = g_utf8_make_valid(copy, (gssize)n), len = strlen(conv);
    g_string_append_len(out, conv, (gssize)len);
    g_free(conv);
    g_free(copy);
}

/*
 * An unstructured header's encoded words decoded leniently, the way mail
 * clients do: each word's bytes, with the bytes of adjacent words in the
 * same charset joined before conversion (a character a sender split over two
 * words survives; GMime joins the encoded text instead, which loses the rest
 * of a header whose base64 words were each padded); whitespace between two
 * encoded words dropped, as RFC 2047 says; words with spaces inside; labels
 * read as meant (charset_meant: UTF-7, Shift_JIS labelled ISO-2022-JP ...).
 * A word's leading space next to a space already written is not doubled.
 */
char *gw_email_decode_words(const char *value)
{
    GString *out = g_string_new(NULL);
    GByteArray *bytes = g_byte_array_new();
    char charset[64] = "", word_charset[64];
    const char *plain = value; /* start of the plain text not yet written */
    bool after_word = false;
    for (const char *p = value; *p;) {
        char enc;
        const char *text;
        size_t text_len, n = encoded_word_at(p, word_charset, &enc, &text, &text_len);
        if (!n) {
            p++;
            continue;
        }
        /* Only whitespace since the last encoded word: it goes. */
        bool only_space = after_word && strspn(plain, " \t") == (size_t)(p - plain);
        if (!only_space || g_ascii_strcasecmp(charset, word_charset)) {
            flush_words(out, bytes, charset);
            if (!only_space)
                append_plain(out, plain, (size_t)(p - plain));
        }
        g_strlcpy(charset, word_charset, sizeof(charset));
        size_t before = bytes->len;
        if (enc == 'B') {
            /* Padding as it should be: senders drop or shorten it ("VEVTVA="). */
            gchar *b64 = g_malloc0(text_len + 4);
            memcpy(b64, text, text_len);
            g_strstrip(b64);
            size_t k = strcspn(b64, "=");
            while (k % 4)
                b64[k++] = '=';
            b64[k] = '\0';
            gsize len = 0;
            guchar *b = g_base64_decode(b64, &len);
            g_byte_array_append(bytes, b, (guint)len);
            g_free(b);
            g_free(b64);
        } else {
            q_decode(bytes, text, text_len);
        }
        /* " Personaländerung" after "AW: ": one space, not two. */
        bool space_before = !before && out->len && g_ascii_isspace(out->str[out->len - 1]);
        while (space_before && bytes->len > before && bytes->data[before] == ' ')
            g_byte_array_remove_index(bytes, before);
        p += n;
        plain = p;
        after_word = true;
    }
    flush_words(out, bytes, charset);
    append_plain(out, plain, strlen(plain));
    g_byte_array_unref(bytes);
    return g_string_free(out, FALSE);
}
