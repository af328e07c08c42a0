/*
 * The email channel's MIME parse rate alone: gw_email_parse() (GMime, RFC
 * 2047 words, charsets, HTML to text, attachment SHA-256s, quote stripping)
 * with no HTTP and no database. Loads every .eml file under the directories
 * given (the shared corpus), and generates three sets of its own so that the
 * figure is not dominated by tiny files: small (~2 KB text/plain, English
 * and Chinese), medium (~50 KB, text and HTML alternatives plus a base64
 * PDF) and large (~1 MB, text plus a base64 image). Each set is parsed over
 * and over for a few seconds, a fresh arena per message, as the gateway
 * does; it prints MB/s (10^6 bytes of raw message per second) and
 * messages/s per set, as a table and as "PARSE k=v ..." lines that
 * bench/email-run reads.
 *
 * Usage: email-parse-bench [-s SECONDS] [-n] [-t N] [DIR...]
 *   -s SECONDS  time per set (default 3)
 *   -n          no generated sets, only the .eml files
 *   -t N        then list the N .eml files that take longest to parse
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "email.h"
#include "gw_arena.h"

struct msg {
    unsigned char *data;
    size_t len;
    const char *name; /* the file, for corpus messages */
    double us;        /* mean parse time, for -t */
};

struct set {
    const char *name;
    struct msg *msgs;
    size_t n, cap;
};

static void die(const char *what)
{
    fprintf(stderr, "email-parse-bench: %s\n", what);
    exit(1);
}

static void set_add(struct set *s, unsigned char *data, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->msgs = realloc(s->msgs, s->cap * sizeof(*s->msgs));
        if (!s->msgs)
            die("out of memory");
    }
    s->msgs[s->n].data = data;
    s->msgs[s->n++].len = len;
}

static size_t set_bytes(const struct set *s)
{
    size_t b = 0;
    for (size_t i = 0; i < s->n; i++)
        b += s->msgs[i].len;
    return b;
}

/* ------------------------------------------------------------ loading the corpus */

static char **paths;
static size_t n_paths, cap_paths;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 4 || strcasecmp(path + n - 4, ".eml"))
        return 0;
    if (n_paths == cap_paths) {
        cap_paths = cap_paths ? cap_paths * 2 : 128;
        paths = realloc(paths, cap_paths * sizeof(*paths));
        if (!paths)
            die("out of memory");
    }
    if (!(paths[n_paths++] = strdup(path)))
        die("out of memory");
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_file(struct set *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 65536, len = 0, r;
    unsigned char *data = malloc(cap);
    while (data && (r = fread(data + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap)
            data = realloc(data, cap *= 2);
    }
    if (!data || ferror(f))
        die("cannot read a corpus file");
    fclose(f);
    set_add(s, data, len);
    s->msgs[s->n - 1].name = path;
}

/* ------------------------------------------------------------ generated messages */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_grow(struct buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    while (b->len + more + 1 > b->cap)
        b->cap = b->cap ? b->cap * 2 : 4096;
    if (!(b->p = realloc(b->p, b->cap)))
        die("out of memory");
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
    buf_grow(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("vsnprintf");
    buf_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Base64 in lines of 76 characters, CRLF, as mail clients write attachments. */
static void buf_base64(struct buf *b, const unsigned char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        buf_add(b, q, 4);
        if ((col += 4) == 76) {
            buf_add(b, "\r\n", 2);
            col = 0;
        }
    }
    if (col)
        buf_add(b, "\r\n", 2);
}

static void buf_base64_str(struct buf *b, const char *s)
{
    buf_base64(b, (const unsigned char *)s, strlen(s));
}

/* Deterministic bytes for attachments (xorshift64*): compresses as badly as a JPEG would. */
static unsigned char *noise(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p[i] = (unsigned char)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
    return p;
}

static const char *const en_subjects[] = {
    "Order 48213 not delivered",
    "Laptop battery overheating",
    "URGENT: service down since 9:00",
    "Price for 200 licences",
    "Re: How do I set up two factor login",
};
static const char *const en_bodies[] = {
    "Hello,\r\n\r\nI placed order 48213 on Monday with express shipping and the tracking page\r\n"
    "has shown the same status for four days. The delivery was promised for\r\n"
    "Thursday. Could you check with the courier where the parcel is and tell me\r\n"
    "when it will arrive? I also need the invoice for this order, with our VAT\r\n"
    "number on it, for our accounts department.\r\n\r\n"
    "The parcel contains two monitors and a docking station that our new\r\n"
    "colleagues need on their first day, so a date would help us plan.\r\n",
    "Hi support,\r\n\r\nmy laptop bought in March gets very hot near the battery after about\r\n"
    "twenty minutes of use and yesterday it switched itself off twice. The fan\r\n"
    "is running but the case is too hot to touch. Is this a hardware problem\r\n"
    "covered by the warranty, and where should I send the device for repair?\r\n"
    "I can bring it to a service centre if there is one near Lyon.\r\n",
    "Our whole team cannot use the service since 9:00 this morning. The\r\n"
    "dashboard shows an error 502 and the mobile app crashes on start. This is\r\n"
    "an outage for us, forty people are blocked and we have a customer deadline\r\n"
    "today. Please treat it as urgent and call me on the number in our contract\r\n"
    "as soon as possible.\r\n",
    "Good afternoon,\r\n\r\nwe are evaluating your product for our company and would like a\r\n"
    "quote for 200 licences on a yearly plan, including the premium support\r\n"
    "option. Is there a discount for education customers or for a three year\r\n"
    "commitment? We would also like a trial for our IT team first.\r\n",
    "Thanks, but I still cannot find the option.\r\n\r\n"
    "On Tue, 3 Nov 2026 at 10:12, Support <help@example.com> wrote:\r\n"
    "> Hello, two factor authentication is in Settings, Security. An\r\n"
    "> administrator can require it for every user of the workspace.\r\n"
    ">\r\n> Kind regards, the support team\r\n",
};
static const char *const zh_subjects[] = {
    "订单 20931 还没有发货",
    "对客服的服务态度不满意",
    "软件升级后经常闪退",
};
static const char *const zh_bodies[] = {
    "你好，我在上周五下单，订单号 20931，页面一直显示待发货，已经过去五天了。\r\n"
    "请帮我查一下物流情况，什么时候可以配送到上海？另外需要开具增值税发票，\r\n"
    "抬头和税号已经在订单备注里填写。谢谢！\r\n",
    "昨天我打电话咨询退款问题，客服人员态度恶劣，没有听完我的问题就挂断了电话。\r\n"
    "这已经是第二次遇到这种情况，我非常不满意，要求正式投诉并尽快给我答复。\r\n"
    "订单号是 77120，请主管处理。\r\n",
    "升级到最新版本以后，软件在导出报表时经常闪退，有时候还会死机，只能重启电脑。\r\n"
    "错误提示是内存不足，但是电脑有 16G 内存。这个问题影响我们每天的工作，\r\n"
    "希望尽快修复，或者告诉我怎么退回到旧版本。\r\n",
};
#define N_EN (sizeof(en_subjects) / sizeof(en_subjects[0]))
#define N_ZH (sizeof(zh_subjects) / sizeof(zh_subjects[0]))

static const char signature[] = "\r\n-- \r\nAlex Martin\r\nOperations, Northwind Traders\r\n"
                                "+33 4 72 00 00 00\r\n";

static void headers(struct buf *b, unsigned i, const char *set, const char *subject_line)
{
    buf_printf(b,
               "Return-Path: <customer%u@example.net>\r\n"
               "Received: from mail-out%u.example.net (mail-out%u.example.net [203.0.113.%u])\r\n"
               "\tby mx1.example.com (Postfix) with ESMTPS id 4F2A1%05u\r\n"
               "\tfor <help@example.com>; Tue, 10 Nov 2026 09:%02u:17 +0100 (CET)\r\n"
               "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=s1;\r\n"
               "\th=from:to:subject:date:message-id:mime-version;\r\n"
               "\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
               "\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\r\n"
               "\t 3xlbXMAIoVdV0tm2oV2BbdKhXkGSIvd3ZpLGwZRiD4+Hj4B82mPXEqLgSvuEnlbwM\r\n"
               "\t Lh2fAQmzVqWHnHDP2FXkJdkgTAfpdDyXoa9tIv9Xk0W4h3c5tJRJN1TC0ipsr8HiOG\r\n"
               "Received: by mail-out%u.example.net with SMTP id x%uabc;\r\n"
               "\tTue, 10 Nov 2026 00:%02u:16 -0800 (PST)\r\n"
               "From: \"Customer %u\" <customer%u@example.net>\r\n"
               "To: Help desk <help@example.com>\r\n"
               "Subject: %s\r\n"
               "Date: Tue, 10 Nov 2026 09:%02u:15 +0100\r\n"
               "Message-ID: <%s.%u.bench@mail-out%u.example.net>\r\n"
               "MIME-Version: 1.0\r\n"
               "X-Mailer: Bench Mail 1.0\r\n",
               i, i % 7, i % 7, i % 250 + 1, i, i % 60, i % 7, i, i % 60, i, i, subject_line,
               i % 60, set, i, i % 7);
}

/* A subject as one RFC 2047 word (UTF-8, base64), as mail clients send Chinese. */
static void encoded_subject(struct buf *out, const char *subject)
{
    struct buf b64 = {0};
    buf_base64_str(&b64, subject);
    while (b64.len && (b64.p[b64.len - 1] == '\n' || b64.p[b64.len - 1] == '\r'))
        b64.p[--b64.len] = 0;
    buf_printf(out, "=?UTF-8?B?%s?=", b64.p);
    free(b64.p);
}

/* ~2 KB: one text/plain part, English (7bit) or Chinese (UTF-8, base64, encoded subject). */
static void gen_small(struct set *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct buf b = {0}, subj = {0};
        bool zh = i % 3 == 2;
        const char *body = zh ? zh_bodies[i % N_ZH] : en_bodies[i % N_EN];
        if (zh)
            encoded_subject(&subj, zh_subjects[i % N_ZH]);
        else
            buf_printf(&subj, "%s", en_subjects[i % N_EN]);
        headers(&b, i, "small", subj.p);
        if (zh) {
            buf_printf(&b, "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: base64\r\n\r\n");
            struct buf text = {0};
            buf_printf(&text, "%s%s%s", body, body, signature);
            buf_base64(&b, (const unsigned char *)text.p, text.len);
            free(text.p);
        } else {
            buf_printf(&b,
                       "Content-Type: text/plain; charset=us-ascii\r\n"
                       "Content-Transfer-Encoding: 7bit\r\n\r\n%s\r\n%s%s",
                       body, body, signature);
        }
        free(subj.p);
        set_add(s, (unsigned char *)b.p, b.len);
    }
}

/*
 * A multipart/mixed message: multipart/alternative (text/plain and
 * text/html) and one base64 attachment of about attach_bytes.
 */
static void gen_with_attachment(struct set *s, unsigned n, const char *name, size_t attach_bytes,
                                const char *attach_type, const char *attach_name)
{
    for (unsigned i = 0; i < n; i++) {
        struct buf b = {0};
        const char *subject = en_subjects[i % N_EN], *body = en_bodies[i % N_EN];
        headers(&b, 1000 + i, name, subject);
        buf_printf(&b,
                   "Content-Type: multipart/mixed; boundary=\"=_mixed_%u\"\r\n\r\n"
                   "This is a multi-part message in MIME format.\r\n\r\n"
                   "--=_mixed_%u\r\n"
                   "Content-Type: multipart/alternative; boundary=\"=_alt_%u\"\r\n\r\n"
                   "--=_alt_%u\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                   "%s\r\nThe file is attached.\r\n%s\r\n"
                   "--=_alt_%u\r\n"
                   "Content-Type: text/html; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                   "<html><head><meta http-equiv=3D\"Content-Type\" content=3D\"text/html; "
                   "charset=3Dutf-8\"></head>\r\n<body><div style=3D\"font-family: Arial, "
                   "sans-serif; font-size: 11pt\">\r\n<p>%s</p>\r\n<p>The file is "
                   "attached.</p>\r\n<p>-- <br>Alex Martin<br>Operations, Northwind "
                   "Traders</p>\r\n</div></body></html>\r\n"
                   "--=_alt_%u--\r\n\r\n"
                   "--=_mixed_%u\r\n"
                   "Content-Type: %s; name=\"%s\"\r\n"
                   "Content-Disposition: attachment; filename=\"%s\"\r\n"
                   "Content-Transfer-Encoding: base64\r\n\r\n",
                   i, i, i, i, body, signature, i, body, i, i, attach_type, attach_name,
                   attach_name);
        unsigned char *data = noise(attach_bytes, 7919u * (i + 1) + attach_bytes);
        buf_base64(&b, data, attach_bytes);
        free(data);
        buf_printf(&b, "\r\n--=_mixed_%u--\r\n", i);
        set_add(s, (unsigned char *)b.p, b.len);
    }
}

/* ------------------------------------------------------------ measuring */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct gw_email_opts opts = {"help@example.com", "SR-"};

/* Parses one message in a fresh arena; 1 when the parser accepted it. */
static int parse_one(const struct msg *m)
{
    struct gw_arena *arena = gw_arena_create(16384);
    if (!arena)
        die("out of memory");
    struct gw_contact c;
    const char *why = NULL;
    int ok = gw_email_parse(m->data, m->len, &opts, arena, &c, &why) == GW_OK;
    gw_arena_destroy(arena);
    return ok;
}

/* The "PARSE k=v" lines, printed after the table. */
static char results[4][320];
static size_t n_results;

static void run_set(const struct set *s, double seconds)
{
    if (!s->n)
        return;
    size_t rejected = 0, total = set_bytes(s);
    for (size_t i = 0; i < s->n; i++) /* warm-up pass; counts what the parser refuses */
        rejected += !parse_one(&s->msgs[i]);
    size_t parses = 0, bytes = 0, i = 0;
    double t0 = now_s(), t;
    do {
        parse_one(&s->msgs[i]);
        bytes += s->msgs[i].len;
        parses++;
        if (++i == s->n)
            i = 0;
        t = now_s() - t0;
    } while (t < seconds || parses < s->n);
    double mb_s = (double)bytes / 1e6 / t, msg_s = (double)parses / t;
    printf("%-8s %9zu %10.1f %10zu %8.2f %10.1f %10.1f %9zu\n", s->name, s->n,
           (double)total / (double)s->n / 1024, parses, t, mb_s, msg_s, rejected);
    snprintf(results[n_results++ % 4], sizeof(results[0]),
             "PARSE set=%s messages=%zu mean_bytes=%zu parses=%zu bytes=%zu seconds=%.3f "
             "mb_s=%.2f msg_s=%.1f rejected=%zu",
             s->name, s->n, total / s->n, parses, bytes, t, mb_s, msg_s, rejected);
    fflush(stdout);
}

static int slowest_first(const void *a, const void *b)
{
    const struct msg *x = a, *y = b;
    return (x->us < y->us) - (x->us > y->us);
}

/* The n files that take longest to parse, each timed alone for ~20 ms. */
static void print_slowest(const struct set *s, size_t n)
{
    struct msg *m = malloc(s->n * sizeof(*m));
    if (!m)
        die("out of memory");
    memcpy(m, s->msgs, s->n * sizeof(*m));
    for (size_t i = 0; i < s->n; i++) {
        size_t k = 0;
        double t0 = now_s(), t;
        do {
            parse_one(&m[i]);
            k++;
            t = now_s() - t0;
        } while (t < 0.02);
        m[i].us = t * 1e6 / (double)k;
    }
    qsort(m, s->n, sizeof(*m), slowest_first);
    printf("slowest %s files (microseconds per parse, bytes, MB/s):\n", s->name);
    for (size_t i = 0; i < n && i < s->n; i++)
        printf("  %9.1f us %8zu B %7.1f MB/s  %s\n", m[i].us, m[i].len, (double)m[i].len / m[i].us,
               m[i].name);
    free(m);
}

int main(int argc, char **argv)
{
    double seconds = 3;
    int generated = 1, o;
    long slowest = 0;
    while ((o = getopt(argc, argv, "s:nt:h")) != -1) {
        if (o == 's' && (seconds = strtod(optarg, NULL)) > 0)
            continue;
        if (o == 't' && (slowest = strtol(optarg, NULL, 10)) > 0)
            continue;
        if (o == 'n') {
            generated = 0;
            continue;
        }
        fprintf(o == 'h' ? stdout : stderr,
                "usage: email-parse-bench [-s SECONDS] [-n] [-t N] [DIR...]\n"
                "  -s SECONDS  time per set (default 3)\n"
                "  -n          no generated sets, only the .eml files under DIR\n"
                "  -t N        then list the N .eml files that take longest to parse\n");
        return o == 'h' ? 0 : 2;
    }
    for (int a = optind; a < argc; a++)
        if (nftw(argv[a], visit, 16, FTW_PHYS)) {
            perror(argv[a]);
            return 1;
        }
    if (n_paths)
        qsort(paths, n_paths, sizeof(*paths), by_name);

    struct set corpus = {.name = "corpus"}, small = {.name = "small"}, medium = {.name = "medium"},
               large = {.name = "large"};
    for (size_t i = 0; i < n_paths; i++)
        load_file(&corpus, paths[i]);
    if (generated) {
        gen_small(&small, 30);
        gen_with_attachment(&medium, 8, "medium", 34 * 1024, "application/pdf", "invoice.pdf");
        gen_with_attachment(&large, 4, "large", 750 * 1024, "image/jpeg", "photo.jpg");
    }
    if (!corpus.n && !small.n) {
        fprintf(stderr, "email-parse-bench: no .eml files found and -n given\n");
        return 1;
    }
    if (gw_email_init() != GW_OK)
        die("gw_email_init failed");

    printf("gw_email_parse(), one fresh arena per message, %.1f s per set (MB = 10^6 bytes)\n",
           seconds);
    printf("%-8s %9s %10s %10s %8s %10s %10s %9s\n", "set", "messages", "mean KiB", "parses",
           "seconds", "MB/s", "msg/s", "rejected");
    const struct set *sets[] = {&corpus, &small, &medium, &large};
    for (size_t k = 0; k < 4; k++)
        run_set(sets[k], seconds);

    for (size_t k = 0; k < n_results; k++)
        printf("%s\n", results[k]);
    if (slowest > 0)
        print_slowest(&corpus, (size_t)slowest);

    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < sets[k]->n; i++)
            free(sets[k]->msgs[i].data);
        free(sets[k]->msgs);
    }
    for (size_t i = 0; i < n_paths; i++)
        free(paths[i]);
    free(paths);
    return 0;
}
