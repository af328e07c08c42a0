/*
 * The email channel's pure functions on fixture files (tests/fixtures/email/):
 * gw_email_parse (headers, RFC 2047, charsets, HTML, attachments, summaries,
 * loop rules), gw_email_strip_quotes and gw_email_render_ack, whose output is
 * parsed back to prove we never acknowledge our own mail. No I/O beyond
 * reading fixtures; expected values are written out in full.
 */
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include <glib.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "email.h"
#include "gw_arena.h"
#include "gw_channel.h"
#include "gw_config.h"
#include "gw_contact.h"

/* assert_string_equal, but a NULL fails the test instead of crashing it. */
#define assert_str(got, want)                                                                      \
    do {                                                                                           \
        const char *got_ = (got);                                                                  \
        if (!got_)                                                                                 \
            fail_msg("%s is NULL, expected \"%s\"", #got, (want));                                 \
        assert_string_equal(got_, (want));                                                         \
    } while (0)

static const struct gw_email_opts opts = {"help@desk.example", "SR-"};

static struct gw_config *cfg;
static struct gw_arena *case_arena; /* for the table-driven tests */

static int group_setup(void **state)
{
    (void)state;
    if (gw_email_init() != GW_OK)
        return -1;
    struct gw_problems pr = {0};
    enum gw_err err = gw_config_load_text(NULL, &cfg, &pr);
    gw_problems_clear(&pr);
    return err == GW_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    gw_config_free(cfg);
    return 0;
}

static int setup_case(void **state)
{
    (void)state;
    case_arena = gw_arena_create(4096);
    return case_arena ? 0 : -1;
}

static int teardown_case(void **state)
{
    (void)state;
    gw_arena_destroy(case_arena);
    case_arena = NULL;
    return 0;
}

/* A fixture's bytes copied into the arena, so they live as long as the contact; unterminated. */
static const unsigned char *load(struct gw_arena *arena, const char *name, size_t *len)
{
    char rel[512];
    snprintf(rel, sizeof(rel), "email/%s", name);
    size_t n = 0;
    unsigned char *buf = harness_read_fixture(rel, &n);
    unsigned char *copy = gw_arena_alloc(arena, n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, buf, n);
    free(buf);
    *len = n;
    return copy;
}

static void parse_bytes(struct gw_arena *arena, const unsigned char *raw, size_t len,
                        struct gw_contact *c)
{
    const char *why = NULL;
    memset(c, 0x5A, sizeof(*c)); /* nothing may survive from before */
    enum gw_err err = gw_email_parse(raw, len, &opts, arena, c, &why);
    if (err != GW_OK)
        fail_msg("gw_email_parse: %s (%s)", gw_strerror(err), why ? why : "no reason");
    assert_ptr_equal(c->raw, raw);
    assert_int_equal(c->raw_len, len);
    assert_str(c->channel, "email");
    assert_non_null(c->body);
}

static void parse_fixture(struct gw_arena *arena, const char *name, struct gw_contact *c)
{
    size_t len;
    const unsigned char *raw = load(arena, name, &len);
    parse_bytes(arena, raw, len, c);
}

static void assert_utf8(const char *s)
{
    assert_non_null(s);
    if (!g_utf8_validate(s, -1, NULL))
        fail_msg("not valid UTF-8: \"%s\"", s);
}

static void assert_refs(const struct gw_contact *c, const char *const *want, size_t n)
{
    for (size_t i = 0; i < c->n_thread_refs; i++)
        print_message("  thread_refs[%zu] = %s\n", i, c->thread_refs[i]);
    assert_int_equal(c->n_thread_refs, n);
    for (size_t i = 0; i < n; i++)
        assert_str(c->thread_refs[i], want[i]);
}

static void digest(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, 32);
}

static void assert_attachment(const struct gw_attachment *a, const char *filename,
                              const char *content_type, const void *bytes, size_t len)
{
    print_message("  attachment %s (%s): %zu bytes\n", a->filename ? a->filename : "(no name)",
                  a->content_type, a->size);
    if (filename)
        assert_str(a->filename, filename);
    else
        assert_null(a->filename);
    assert_str(a->content_type, content_type);
    assert_int_equal(a->size, len);
    unsigned char want[32];
    digest(bytes, len, want);
    assert_memory_equal(a->sha256, want, 32);
}

/* ---- headers ---- */

static void test_headers_full(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "headers_full.eml", &c);
    assert_str(c.sender.name, "张三");
    assert_str(c.sender.email, "zhang.san@example.com");
    assert_str(c.reply_handle, "team-inbox@example.com");
    assert_str(c.subject, "Re: [SR-000123] Printer still broken");
    assert_str(c.ticket_ref, "SR-000123");
    assert_str(c.external_ref, "CAF=abc.123@mail.example.com");
    assert_str(c.idempotency_key, "email:CAF=abc.123@mail.example.com");
    static const char *const refs[] = {"ack.4@desk.example", "second.3@mail.example.com",
                                       "ack.2@desk.example", "first.1@mail.example.com"};
    assert_refs(&c, refs, 4);
    /* A CRLF message: its line ends may be kept or made LF; both are the same text. */
    if (strcmp(c.body, "The printer on floor 3 is still broken.\r\n"))
        assert_str(c.body, "The printer on floor 3 is still broken.\n");
    assert_str(c.summary, "The printer on floor 3 is still broken.");
    assert_int_equal(c.n_attachments, 0);
    assert_null(c.no_ack_reason);
    assert_null(c.sender.phone);
    assert_null(c.product);
}

static void test_headers_without_reply_to(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "headers_plain.eml", &c);
    assert_str(c.sender.name, "Lee, Ann");
    assert_str(c.sender.email, "ann.lee@example.org");
    assert_str(c.reply_handle, "ann.lee@example.org");
    assert_str(c.subject, "Invoice question [SR-12x]");
    assert_null(c.ticket_ref); /* digits only inside the brackets */
    assert_str(c.external_ref, "plain.1@example.org");
    assert_str(c.idempotency_key, "email:plain.1@example.org");
    assert_int_equal(c.n_thread_refs, 0);
    assert_str(c.body, "Hello.\n");
    assert_null(c.no_ack_reason);
}

static void test_ticket_tag_other_prefix(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "tag_other_prefix.eml", &c);
    assert_str(c.subject, "Re: [XX-000123] Printer");
    assert_null(c.ticket_ref);
}

static void test_ticket_tag_after_bad_tag(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "tag_two_tags.eml", &c);
    assert_str(c.ticket_ref, "SR-000456");
}

/*
 * In-Reply-To usually repeats the last References entry: newest first all the
 * same (whether the repeat is listed twice is not asserted: lookups ignore it).
 */
static void test_thread_refs_repeated_id(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "headers_refs_repeated.eml", &c);
    static const char *const want[] = {"r2@example.org", "r1@example.org", "r0@example.org"};
    const char *distinct[8];
    size_t n = 0;
    for (size_t i = 0; i < c.n_thread_refs; i++) {
        print_message("  thread_refs[%zu] = %s\n", i, c.thread_refs[i]);
        if (n == 0 || strcmp(distinct[n - 1], c.thread_refs[i]))
            distinct[n++] = c.thread_refs[i];
        assert_true(n <= 3);
    }
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_str(distinct[i], want[i]);
}

struct subject_case {
    const char *name;
    const char *file;
    const char *subject;
};

static const struct subject_case subject_cases[] = {
    {"subject: B, UTF-8", "subject_b_utf8.eml", "打印机故障"},
    {"subject: Q, UTF-8, two words", "subject_q_utf8.eml", "Café au lait — order 42"},
    {"subject: B, GB2312", "subject_b_gb2312.eml", "发票问题"},
    {"subject: B, Big5", "subject_b_big5.eml", "帳單問題"},
    {"subject: Q, ISO-8859-1", "subject_q_latin1.eml", "Réclamation n° 42"},
    {"subject: text and folded words", "subject_mixed.eml", "Re: 订单延迟 (urgent)"},
    {"subject: character split over two words", "subject_split_char.eml", "你好世界"},
    {"subject: undeclared 8-bit GB2312", "subject_8bit_gb2312.eml", "关于发票的问题"},
    {"subject: undeclared 8-bit Latin-1", "subject_8bit_latin1.eml", "Formação de Verão 2024"},
    {"subject: spaces inside a Q word", "subject_q_spaces.eml", "ABC / 123 / Wetterau West / ABC"},
    {"subject: a leading space inside a Q word", "subject_q_leading_space.eml",
     "AW: Personaländerung"},
    {"subject: UTF-7 word", "subject_utf7.eml", "Übermittlungsstatus (fehlgeschlagen)"},
    {"subject: ISO-2022-JP label on Shift_JIS bytes", "subject_iso2022jp_label_sjis.eml",
     "ツールの件"},
    {"subject: GB2312 label on GBK bytes", "subject_gb2312_label_gbk.eml", "朱镕基的打印机"},
};

#define N_SUBJECT (sizeof(subject_cases) / sizeof(subject_cases[0]))

static void test_subject(void **state)
{
    const struct subject_case *sc = *state;
    struct gw_contact c;
    parse_fixture(case_arena, sc->file, &c);
    print_message("  %s: \"%s\"\n", sc->file, c.subject ? c.subject : "(null)");
    assert_utf8(c.subject);
    assert_str(c.subject, sc->subject);
    assert_null(c.ticket_ref);
}

static void test_derived_message_id(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact first, again, other;
    parse_fixture(arena, "noid_first.eml", &first);
    parse_fixture(arena, "noid_again.eml", &again);
    parse_fixture(arena, "noid_other_body.eml", &other);
    print_message("  derived: %s\n", first.external_ref);
    /* 64 hex digits of SHA-256, then the marker domain. */
    assert_int_equal(strlen(first.external_ref), 64 + strlen("@derived.intake"));
    assert_int_equal(strspn(first.external_ref, "0123456789abcdef"), 64);
    assert_str(first.external_ref + 64, "@derived.intake");
    char key[128];
    snprintf(key, sizeof(key), "email:%s", first.external_ref);
    assert_str(first.idempotency_key, key);
    /* The same message delivered twice, with other Received: lines: the same id. */
    assert_str(again.external_ref, first.external_ref);
    assert_str(again.idempotency_key, first.idempotency_key);
    /* Another body: another message. */
    assert_string_not_equal(other.external_ref, first.external_ref);
}

/* ---- bodies and charsets ---- */

struct body_case {
    const char *name;
    const char *file;
    const char *body;
};

static const struct body_case body_cases[] = {
    {"body: GB2312", "body_gb2312.eml", "您好，打印机无法打印，请帮忙。\n"},
    {"body: GBK", "body_gbk.eml", "朱镕基同志的打印机坏了。\n"},
    {"body: GB18030 (4-byte and euro)", "body_gb18030.eml", "价格：€100，谢谢😀\n"},
    {"body: GBK text labelled GB2312", "body_gb2312_label_gbk.eml", "朱镕基同志的打印机坏了。\n"},
    {"body: Big5", "body_big5.eml", "印表機無法列印，請協助。\n"},
    {"body: ISO-2022-JP", "body_iso2022jp.eml", "プリンターが故障しました。\n"},
    {"body: ISO-8859-1", "body_latin1.eml", "Olá, a impressora não funciona. Obrigado!\n"},
    {"body: windows-1252", "body_cp1252.eml", "Price: €50 – “urgent” …\n"},
    {"body: windows-1252 labelled ISO-8859-1", "body_latin1_label_cp1252.eml",
     "Price: €50 – “urgent” …\n"},
    {"body: undeclared 8-bit GB2312", "body_undeclared_gb2312.eml", "打印机坏了。\n"},
    {"body: ISO-2022-JP label on Shift_JIS bytes", "body_iso2022jp_label_sjis.eml",
     "ツールが動きません。\n"},
    {"body: Big5 label on Big5-HKSCS bytes", "body_big5_label_hkscs.eml", "我哋嘅打印機壞咗。\n"},
    {"body: quoted-printable", "body_qp.eml",
     "Prüfung der Druckerwarteschlange fehlgeschlagen, bitte um Rückruf (dringend) – Danke.\n"},
    {"body: base64", "body_base64.eml", "我的订单12345还没有到货，请尽快处理。\n第二行。\n"},
};

#define N_BODY (sizeof(body_cases) / sizeof(body_cases[0]))

static void test_body(void **state)
{
    const struct body_case *bc = *state;
    struct gw_contact c;
    parse_fixture(case_arena, bc->file, &c);
    print_message("  %s: \"%s\"\n", bc->file, c.body);
    assert_utf8(c.body);
    assert_str(c.body, bc->body);
    assert_int_equal(c.n_attachments, 0);
}

/*
 * Declared UTF-8 with a stray byte and a truncated sequence: valid UTF-8 out,
 * the good text kept, and each bad run (or each bad byte) marked (U+FFFD, or
 * '?'), not deleted.
 */
static void test_body_utf8_invalid_bytes(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "body_utf8_invalid.eml", &c);
    print_message("  body: \"%s\"\n", c.body);
    assert_utf8(c.body);
    assert_utf8(c.summary);
    if (strcmp(c.body, "Café \xEF\xBF\xBD ok \xEF\xBF\xBD end\n") &&
        strcmp(c.body, "Café ? ok ? end\n") && strcmp(c.body, "Café ? ok ?? end\n") &&
        strcmp(c.body, "Café \xEF\xBF\xBD ok \xEF\xBF\xBD\xEF\xBF\xBD end\n"))
        fail_msg("bad bytes not marked: \"%s\"", c.body);
}

/* Latin-1 text labelled UTF-8: decoded as Latin (the fallback), or at least marked. */
static void test_body_latin1_labelled_utf8(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "body_latin1_label_utf8.eml", &c);
    print_message("  body: \"%s\"\n", c.body);
    assert_utf8(c.body);
    if (strcmp(c.body, "Olá, a impressora não funciona.\n") &&
        strcmp(c.body, "Ol\xEF\xBF\xBD, a impressora n\xEF\xBF\xBDo funciona.\n"))
        fail_msg("letters lost: \"%s\"", c.body);
}

/* ---- HTML ---- */

static void test_html_only(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "html_only.eml", &c);
    print_message("  body: \"%s\"\n", c.body);
    assert_str(c.body, "Hello & welcome,\n"
                       "Line one\n"
                       "Line two\n"
                       "Tom <tom@example.org> says café €5\n");
    assert_null(strstr(c.body, "alert"));
    assert_null(strstr(c.body, "color"));
    assert_null(strstr(c.body, "Ignored title"));
    assert_int_equal(c.n_attachments, 0);
}

/* A declared legacy charset converted once by GMime must not be decoded again by <meta>. */
static void test_html_meta_charset(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "html_meta_latin1.eml", &c);
    print_message("  body: \"%s\"\n", c.body);
    assert_str(c.body, "Não consigo imprimir.\n");
}

static void test_alternative_plain_and_html(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "alt_plain_html.eml", &c);
    assert_str(c.body, "Plain version.");
    assert_int_equal(c.n_attachments, 0);
}

/* Apple Mail and Outlook: alternative(plain, related(html, image)); the HTML is still no file. */
static void test_alternative_with_related_html(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "alt_related_html.eml", &c);
    assert_str(c.body, "Plain with logo.");
    for (size_t i = 0; i < c.n_attachments; i++)
        print_message("  attachment %zu: %s\n", i, c.attachments[i].content_type);
    assert_int_equal(c.n_attachments, 1);
    assert_str(c.attachments[0].content_type, "image/png");
}

static void test_mixed_plain_and_html(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "mixed_plain_html.eml", &c);
    assert_str(c.body, "See the report below.");
    assert_int_equal(c.n_attachments, 1);
    assert_attachment(&c.attachments[0], NULL, "text/html", "<p>Report</p>", 13);
}

/* ---- attachments ---- */

static const unsigned char pdf_bytes[] = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog "
                                         ">>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

static const unsigned char png_bytes[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
    0xda, 0x63, 0xf8, 0xff, 0xff, 0x3f, 0x00, 0x05, 0xfe, 0x02, 0xfe, 0xa7, 0xd6, 0xa4,
    0xe4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static void test_attachments(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "attachments.eml", &c);
    assert_str(c.body, "Three files attached.");
    assert_int_equal(c.n_attachments, 4);
    /* RFC 2231 with a charset, base64. */
    assert_attachment(&c.attachments[0], "报价单.pdf", "application/pdf", pdf_bytes,
                      sizeof(pdf_bytes) - 1);
    /* RFC 2047 inside the quoted parameter (what many clients send). */
    assert_attachment(&c.attachments[1], "Überweisung März.png", "image/png", png_bytes,
                      sizeof(png_bytes));
    /* RFC 2231 continuation, quoted-printable. */
    assert_attachment(&c.attachments[2], "数据.csv", "text/csv", "id;name\n1;Müller\n",
                      strlen("id;name\n1;Müller\n"));
    /* A text part marked as an attachment is a file, not the body. */
    assert_attachment(&c.attachments[3], "log.txt", "text/plain", "line 1\nline 2", 13);
    for (size_t i = 0; i < c.n_attachments; i++)
        assert_null(c.attachments[i].data); /* the raw message keeps the bytes */
}

static const char forwarded[] = "From: Bob <bob@example.net>\n"
                                "To: Ann Lee <ann@example.org>\n"
                                "Subject: Original problem\n"
                                "Date: Mon, 01 Jul 2024 08:00:00 +0000\n"
                                "Message-ID: <orig.9@example.net>\n"
                                "Content-Type: text/plain; charset=utf-8\n"
                                "\n"
                                "The machine shows error E42.\n";

/* The attached message itself, as a saved .eml would hold it (not the part's MIME headers). */
static void test_forwarded_message(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "forward_rfc822.eml", &c);
    assert_str(c.body, "Forwarding the mail below.");
    assert_str(c.external_ref, "fwd.1@example.org");
    assert_int_equal(c.n_attachments, 1);
    const struct gw_attachment *a = &c.attachments[0];
    print_message("  attachment %s: %zu bytes\n", a->content_type, a->size);
    assert_str(a->content_type, "message/rfc822");
    assert_int_equal(a->size, strlen(forwarded));
    unsigned char want[32];
    digest(forwarded, strlen(forwarded), want);
    assert_memory_equal(a->sha256, want, 32);
}

/* Content-Disposition: attachment; filename="original.eml" names the forwarded message. */
static void test_forwarded_message_filename(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "forward_rfc822.eml", &c);
    assert_int_equal(c.n_attachments, 1);
    assert_str(c.attachments[0].filename, "original.eml");
}

/* ---- summaries ---- */

struct strip_case {
    const char *name;
    const char *text;
    const char *summary;
};

static const struct strip_case strip_cases[] = {
    {"strip: On ... wrote:",
     "Thanks, that fixed it.\n\nOn Mon, 1 Jul 2024 at 10:00, Help Desk <help@desk.example> "
     "wrote:\n> Try restarting it.\n",
     "Thanks, that fixed it."},
    {"strip: > lines", "Yes, every day.\n> Does it happen every day?\n> More.\n",
     "Yes, every day."},
    {"strip: -- signature", "Call me back, please.\n\n-- \nAnn Lee\nExample Ltd\n",
     "Call me back, please."},
    {"strip: -- signature, CRLF", "Call me back, please.\r\n\r\n-- \r\nAnn Lee\r\n",
     "Call me back, please."},
    {"strip: Original Message",
     "See below.\n\n-----Original Message-----\nFrom: Help Desk\nSent: Monday\n\nOld text\n",
     "See below."},
    {"strip: Outlook line", "Noted.\n\n________________________________\nFrom: Help Desk\n",
     "Noted."},
    {"strip: From: after a blank line", "Noted.\n\nFrom: Help Desk <help@desk.example>\nSent: x\n",
     "Noted."},
    {"strip: 在 ... 写道：",
     "好的，谢谢。\n\n在 2024年7月1日 10:00，客服 <help@desk.example> 写道：\n> 请重启。\n",
     "好的，谢谢。"},
    {"strip: 在 ... 写道:", "好的。\n在 2024-07-01，客服 写道:\n> 请重启。\n", "好的。"},
    {"strip: attribution wrapped by the client",
     "Fine now.\n\nOn Mon, 1 Jul 2024 at 10:00, Help Desk <help@desk.example>\nwrote:\n> old\n",
     "Fine now."},
    {"strip: only a quote", "> Does it happen every day?\n> Please answer.\n",
     "> Does it happen every day?\n> Please answer.\n"},
    {"strip: nothing to cut", "Line one.\nLine two.\n", "Line one.\nLine two."},
};

#define N_STRIP (sizeof(strip_cases) / sizeof(strip_cases[0]))

static void test_strip(void **state)
{
    const struct strip_case *sc = *state;
    const char *got = gw_email_strip_quotes(sc->text, case_arena);
    print_message("  summary: \"%s\"\n", got ? got : "(null)");
    assert_non_null(got);
    assert_str(got, sc->summary);
}

static void test_summary_on_wrote(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "quote_on_wrote.eml", &c);
    assert_str(c.body, "Yes, it happens every morning.\n\nOn Mon, 1 Jul 2024 at 10:00, "
                       "Help Desk <help@desk.example> wrote:\n"
                       "> Does it happen every day?\n> \n");
    assert_str(c.summary, "Yes, it happens every morning.");
}

static void test_summary_chinese(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "quote_chinese.eml", &c);
    assert_str(c.summary, "每天早上都会出现。");
}

static void test_summary_signature_crlf(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "quote_sig_crlf.eml", &c);
    print_message("  summary: \"%s\"\n", c.summary);
    assert_str(c.summary, "Please call me back.");
}

static void test_summary_only_quote(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "quote_only.eml", &c);
    assert_str(c.body, "> Does it happen every day?\n> Please answer.\n");
    assert_str(c.summary, c.body);
}

/* ---- loop rules ---- */

struct loop_case {
    const char *name;
    const char *from;  /* the From: line */
    const char *extra; /* more header lines */
    const char *reason;
};

#define ANN "From: Ann Lee <ann@example.org>\n"

static const struct loop_case loop_cases[] = {
    {"loop: a normal message", ANN, "", NULL},
    {"loop: Auto-Submitted: auto-replied", ANN, "Auto-Submitted: auto-replied\n", "Auto-Submitted"},
    {"loop: Auto-Submitted: auto-generated", ANN, "Auto-Submitted: auto-generated\n",
     "Auto-Submitted"},
    {"loop: Auto-Submitted: no", ANN, "Auto-Submitted: no\n", NULL},
    {"loop: Precedence: bulk", ANN, "Precedence: bulk\n", "Precedence"},
    {"loop: Precedence: junk", ANN, "Precedence: junk\n", "Precedence"},
    {"loop: Precedence: list", ANN, "Precedence: list\n", "Precedence"},
    {"loop: Precedence: Bulk (any case)", ANN, "Precedence: Bulk\n", "Precedence"},
    {"loop: Precedence: first-class", ANN, "Precedence: first-class\n", NULL},
    {"loop: List-Id", ANN, "List-Id: Printers <printers.lists.example.org>\n", "mailing list"},
    {"loop: List-Unsubscribe", ANN, "List-Unsubscribe: <mailto:leave@lists.example.org>\n",
     "mailing list"},
    {"loop: Return-Path: <>", ANN, "Return-Path: <>\n", "empty Return-Path"},
    {"loop: Return-Path with an address", ANN, "Return-Path: <ann@example.org>\n", NULL},
    {"loop: X-Intake-Loop", ANN, "X-Intake-Loop: SR-000001\n", "our own message"},
    {"loop: MAILER-DAEMON", "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n", "",
     "automatic sender"},
    {"loop: postmaster", "From: postmaster@example.org\n", "", "automatic sender"},
    {"loop: our own address", "From: Help Desk <Help@Desk.Example>\n", "", "our own address"},
};

#define N_LOOP (sizeof(loop_cases) / sizeof(loop_cases[0]))

static void test_loop(void **state)
{
    const struct loop_case *lc = *state;
    size_t blen;
    const unsigned char *base = load(case_arena, "loop_base.eml", &blen);
    char *raw =
        gw_arena_printf(case_arena, "%s%s%.*s", lc->from, lc->extra, (int)blen, (const char *)base);
    assert_non_null(raw);
    struct gw_contact c;
    parse_bytes(case_arena, (const unsigned char *)raw, strlen(raw), &c);
    print_message("  no_ack_reason: %s\n", c.no_ack_reason ? c.no_ack_reason : "(null)");
    assert_non_null(c.sender.email);
    assert_str(c.body, "Hello.\n");
    if (lc->reason)
        assert_str(c.no_ack_reason, lc->reason);
    else
        assert_null(c.no_ack_reason);
}

static void test_loop_delivery_report(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "loop_dsn.eml", &c);
    assert_str(c.sender.email, "bounces@mx.example.org");
    assert_str(c.no_ack_reason, "delivery report");
}

static void test_no_sender(void **state)
{
    struct gw_arena *arena = *state;
    size_t len;
    const unsigned char *raw = load(arena, "no_sender.eml", &len);
    struct gw_contact c;
    const char *why = NULL;
    assert_int_equal(gw_email_parse(raw, len, &opts, arena, &c, &why), GW_OK);
    assert_null(c.sender.email);
    assert_null(c.reply_handle);
    assert_str(c.sender.name, "(no sender address)");
    assert_str(c.no_ack_reason, "no sender address");
    assert_str(c.external_ref, "anon.1@example.org");
    assert_str(c.subject, "Who am I");
    assert_str(c.body, "No sender on this one.\n");
}

/* No address in From, but one in Reply-To or Sender: that is the customer, and is answered. */
static void test_from_without_address(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "from_empty_reply_to.eml", &c);
    assert_str(c.sender.email, "wo@example.cn");
    assert_str(c.sender.name, "我");
    assert_str(c.reply_handle, "wo@example.cn");
    assert_null(c.no_ack_reason);
    parse_fixture(arena, "from_empty_sender.eml", &c);
    assert_str(c.sender.email, "ops@example.org");
    assert_str(c.reply_handle, "ops@example.org");
    assert_null(c.no_ack_reason);
}

/* A forwarding script's banner before the headers is skipped, not a reason to refuse. */
static void test_line_before_the_headers(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_contact c;
    parse_fixture(arena, "prefix_line.eml", &c);
    assert_str(c.sender.email, "ann@example.org");
    assert_str(c.subject, "Invoice 7781 is wrong");
    assert_str(c.external_ref, "prefix_line.eml@example.org");
    assert_str(c.body, "Please correct the invoice.\n");
}

/* What can never be a message is still refused: no header line at all. */
static void test_text_without_headers_is_refused(void **state)
{
    struct gw_arena *arena = *state;
    static const char raw[] = "Hello, this is just a note.\nNo headers here.\n";
    struct gw_contact c;
    const char *why = NULL;
    assert_int_equal(
        gw_email_parse((const unsigned char *)raw, sizeof(raw) - 1, &opts, arena, &c, &why),
        GW_ERR_INVALID);
    assert_str(why, "not an RFC 5322 message");
}

/* ---- acknowledgements ---- */

static const struct gw_email_ack_opts ack_opts = {"help@desk.example", "Help Desk", 5};

#define ACK_JSON(lang, subject)                                                                    \
    "{\"ticket\":\"SR-000007\",\"customer\":\"C-000001\",\"name\":\"Ann\",\"language\":\"" lang    \
    "\",\"subject\":\"" subject "\",\"reply_handle\":\"ann@example.org\","                         \
    "\"external_ref\":\"orig@example.org\",\"event\":\"created\",\"first_response_s\":900}"

static void render(struct gw_arena *arena, const char *json, struct gw_delivery *out)
{
    json_error_t jerr;
    json_t *ack = json_loads(json, 0, &jerr);
    if (!ack)
        fail_msg("bad test JSON: %s", jerr.text);
    enum gw_err err = gw_email_render_ack(ack, cfg, &ack_opts, arena, out);
    json_decref(ack);
    assert_int_equal(err, GW_OK);
    assert_int_equal(out->kind, GW_DELIVER_SMTP);
    assert_non_null(out->message);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

/* The plain-text part, as a reader sees it (parsed back, CRs dropped). */
static char *ack_body(struct gw_arena *arena, const struct gw_delivery *d)
{
    struct gw_contact c;
    parse_bytes(arena, (const unsigned char *)d->message, strlen(d->message), &c);
    char *b = gw_arena_strdup(arena, c.body);
    char *w = b;
    for (const char *r = b; *r; r++)
        if (*r != '\r')
            *w++ = *r;
    *w = '\0';
    return b;
}

static void test_ack_english(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_delivery d;
    render(arena, ACK_JSON("en", "Printer"), &d);
    assert_str(d.rcpt_to, "ann@example.org");
    assert_str(d.mail_from, "help@desk.example");
    assert_int_equal(d.per_recipient_per_hour, 5);
    assert_str(d.record_subject, "[SR-000007] Re: Printer");
    static const char text[] =
        "Hello Ann,\n\nWe have received your request. Your ticket number is SR-000007.\n"
        "It has been passed to the right team. We aim to send you a first answer within 15 "
        "minutes, and at the latest within 24 hours.\n"
        "To add information, reply to this message and keep [SR-000007] in the subject.\n";
    assert_str(d.record_text, text);
    const char *m = d.message;
    assert_contains(m, "\r\nSubject: [SR-000007] Re: Printer\r\n");
    assert_contains(m, "\r\nIn-Reply-To: <orig@example.org>\r\n");
    assert_contains(m, "\r\nReferences: <orig@example.org>\r\n");
    assert_contains(m, "\r\nAuto-Submitted: auto-replied\r\n");
    assert_contains(m, "\r\nX-Intake-Loop: SR-000007\r\n");
    assert_contains(m, "Help Desk <help@desk.example>");
    assert_contains(m, "Ann <ann@example.org>");
    assert_contains(m, "multipart/alternative");
    assert_contains(m, "text/plain");
    assert_contains(m, "text/html");
    char *mid = gw_arena_printf(arena, "<%s>", d.record_ref);
    assert_contains(m, mid);
    assert_true(g_str_has_suffix(d.record_ref, ".SR-000007@desk.example"));
    /* CRLF throughout: no bare LF, no bare CR. */
    for (const char *p = m; *p; p++) {
        if (*p == '\n' && (p == m || p[-1] != '\r'))
            fail_msg("bare LF at offset %td", p - m);
        if (*p == '\r' && p[1] != '\n')
            fail_msg("bare CR at offset %td", p - m);
    }
    assert_str(ack_body(arena, &d), text);
}

static void test_ack_same_payload_same_message_id(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_delivery a, b, reopened;
    render(arena, ACK_JSON("en", "Printer"), &a);
    render(arena, ACK_JSON("en", "Printer"), &b);
    assert_non_null(a.record_ref);
    assert_str(a.record_ref, b.record_ref);
    char *json = gw_arena_strdup(arena, ACK_JSON("en", "Printer"));
    char *ev = strstr(json, "\"created\"");
    assert_non_null(ev);
    json = gw_arena_printf(arena, "%.*s\"reopened\"%s", (int)(ev - json), json, ev + 9);
    render(arena, json, &reopened);
    assert_string_not_equal(reopened.record_ref, a.record_ref);
}

static void test_ack_chinese(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_delivery d;
    render(arena, ACK_JSON("zh", "打印机坏了"), &d);
    static const char text[] =
        "Ann，您好！\n\n我们已收到您的请求，工单号：SR-000007。\n"
        "您的请求已分配给相应的服务团队，我们的目标是在 15 分钟内给您首次答复，最迟不超过 24 "
        "小时。\n如需补充信息，请直接回复本消息，并保留工单号 [SR-000007]。\n";
    assert_str(d.record_text, text);
    assert_str(d.record_subject, "[SR-000007] Re: 打印机坏了");
    assert_str(ack_body(arena, &d), text);
    struct gw_contact c;
    parse_bytes(arena, (const unsigned char *)d.message, strlen(d.message), &c);
    assert_str(c.subject, "[SR-000007] Re: 打印机坏了");
}

static void test_ack_subject_tagged_once(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_delivery d;
    render(arena, ACK_JSON("en", "Re: [SR-000007] Printer"), &d);
    assert_str(d.record_subject, "Re: [SR-000007] Printer");
    assert_contains(d.message, "\r\nSubject: Re: [SR-000007] Printer\r\n");
}

/* Our acknowledgement coming back to us (a forwarder, a misconfigured alias) is never answered. */
static void test_ack_parsed_back_is_not_answered(void **state)
{
    struct gw_arena *arena = *state;
    struct gw_delivery d;
    render(arena, ACK_JSON("en", "Printer"), &d);
    struct gw_contact c;
    parse_bytes(arena, (const unsigned char *)d.message, strlen(d.message), &c);
    assert_non_null(c.no_ack_reason);
    assert_str(c.no_ack_reason, "Auto-Submitted");
    assert_str(c.sender.email, "help@desk.example");
    assert_str(c.sender.name, "Help Desk");
    assert_str(c.subject, "[SR-000007] Re: Printer");
    assert_str(c.ticket_ref, "SR-000007");
    assert_str(c.external_ref, d.record_ref);
    assert_true(c.n_thread_refs >= 1); /* In-Reply-To and References both name it */
    for (size_t i = 0; i < c.n_thread_refs; i++)
        assert_str(c.thread_refs[i], "orig@example.org");
    assert_int_equal(c.n_attachments, 0);
}

#define A(fn) cmocka_unit_test_setup_teardown(fn, harness_setup_arena, harness_teardown_arena)

struct loaded_probe {
    const char *suffix; /* "/GB18030.so" */
    int found;
};

/* dl_iterate_phdr callback: notes whether a loaded object's path ends in the suffix. */
static int find_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct loaded_probe *probe = data;
    size_t n = strlen(info->dlpi_name), m = strlen(probe->suffix);
    if (n >= m && !strcmp(info->dlpi_name + n - m, probe->suffix))
        probe->found = 1;
    return 0;
}

/*
 * The converters of the fallback charsets stay loaded once the channel is
 * set up, also after a message with raw 8-bit headers has been parsed: each
 * such header used to dlopen and dlclose four gconv modules, which made the
 * parser 23 % slower on the shared corpus and 14 times slower under the fuzzer.
 */
static void test_charset_converters_stay_loaded(void **state)
{
    static const char *const modules[] = {"/GB18030.so", "/BIG5.so", "/SJIS.so", "/CP1252.so"};
    struct gw_contact c;
    parse_fixture(*state, "subject_8bit_latin1.eml", &c);
    for (size_t i = 0; i < sizeof(modules) / sizeof(*modules); i++) {
        struct loaded_probe probe = {modules[i], 0};
        dl_iterate_phdr(find_loaded, &probe);
        if (!probe.found)
            fail_msg("the gconv module %s is not loaded after a parse", modules[i]);
    }
}

static const struct CMUnitTest fixed_tests[] = {
    A(test_charset_converters_stay_loaded),
    A(test_headers_full),
    A(test_headers_without_reply_to),
    A(test_ticket_tag_other_prefix),
    A(test_ticket_tag_after_bad_tag),
    A(test_thread_refs_repeated_id),
    A(test_derived_message_id),
    A(test_body_utf8_invalid_bytes),
    A(test_body_latin1_labelled_utf8),
    A(test_html_only),
    A(test_html_meta_charset),
    A(test_alternative_plain_and_html),
    A(test_alternative_with_related_html),
    A(test_mixed_plain_and_html),
    A(test_attachments),
    A(test_forwarded_message),
    A(test_forwarded_message_filename),
    A(test_summary_on_wrote),
    A(test_summary_chinese),
    A(test_summary_signature_crlf),
    A(test_summary_only_quote),
    A(test_loop_delivery_report),
    A(test_no_sender),
    A(test_from_without_address),
    A(test_line_before_the_headers),
    A(test_text_without_headers_is_refused),
    A(test_ack_english),
    A(test_ack_same_payload_same_message_id),
    A(test_ack_chinese),
    A(test_ack_subject_tagged_once),
    A(test_ack_parsed_back_is_not_answered),
};

#define N_FIXED (sizeof(fixed_tests) / sizeof(fixed_tests[0]))

static struct CMUnitTest named(const char *name, CMUnitTestFunction fn, const void *c)
{
    return (struct CMUnitTest){.name = name,
                               .test_func = fn,
                               .setup_func = setup_case,
                               .teardown_func = teardown_case,
                               .initial_state = (void *)(uintptr_t)c};
}

int main(void)
{
    /* One named test per table row, so a failure says which input. */
    struct CMUnitTest tests[N_FIXED + N_SUBJECT + N_BODY + N_STRIP + N_LOOP];
    size_t n = 0;
    memcpy(tests, fixed_tests, sizeof(fixed_tests));
    n += N_FIXED;
    for (size_t i = 0; i < N_SUBJECT; i++)
        tests[n++] = named(subject_cases[i].name, test_subject, &subject_cases[i]);
    for (size_t i = 0; i < N_BODY; i++)
        tests[n++] = named(body_cases[i].name, test_body, &body_cases[i]);
    for (size_t i = 0; i < N_STRIP; i++)
        tests[n++] = named(strip_cases[i].name, test_strip, &strip_cases[i]);
    for (size_t i = 0; i < N_LOOP; i++)
        tests[n++] = named(loop_cases[i].name, test_loop, &loop_cases[i]);
    return _cmocka_run_group_tests("email_parse", tests, n, group_setup, group_teardown);
}
