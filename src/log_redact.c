/*
 * Redaction of text the gateway did not write (an SMTP server's refusal, a
 * library's error) before it reaches a log line. Call sites log numbers and
 * codes rather than such text; this is the last line of defence for what
 * they still pass on, so it errs towards hiding: an address, a run of seven
 * digits or more (a phone number in any of its spellings), a URL's path and
 * query (survey and chat links carry tokens there), a long mix of letters
 * and digits (a token) are replaced by a marker. A dotted IPv4 address is
 * kept: it names a server, not a person.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gw_log.h"

/* The characters an address's local part and domain are made of. */
static bool address_char(char c)
{
    return isalnum((unsigned char)c) || (c && strchr(".!#$%&'*+/=?^_`{|}~-@", c)) ||
           (unsigned char)c >= 0x80;
}

static bool token_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

struct out {
    char *s;
    size_t len, cap;
};

static void add(struct out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->len + 1 < o->cap; i++)
        o->s[o->len++] = s[i];
    o->s[o->len] = '\0';
}

/* The length of a URL's "scheme://" at s, or 0. */
static size_t scheme_len(const char *s)
{
    size_t n = 0;
    while (isalpha((unsigned char)s[n]) ||
           (n && (isdigit((unsigned char)s[n]) || s[n] == '+' || s[n] == '.' || s[n] == '-')))
        n++;
    return n && !strncmp(s + n, "://", 3) ? n + 3 : 0;
}

/* Writes scheme://host of the URL at s, [path] for the rest; returns its length. */
static size_t url(struct out *o, const char *s, size_t scheme)
{
    size_t end = scheme;
    while (s[end] && !isspace((unsigned char)s[end]) && !strchr("<>\"'()", s[end]))
        end++;
    size_t host_end = scheme + strcspn(s + scheme, "/?#");
    if (host_end > end)
        host_end = end;
    size_t host = scheme;
    for (size_t i = scheme; i < host_end; i++)
        if (s[i] == '@')
            host = i + 1; /* user:password@ goes */
    add(o, s, scheme);
    add(o, s + host, host_end - host);
    if (host_end < end)
        add(o, "/[path]", 7);
    return end;
}

/* Whether the word s[0..n) is an address (x@y) or a token; its marker, or NULL. */
static const char *word_marker(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (at && at > s && at + 1 < s + n)
        return "[address]";
    size_t run = 0, letters = 0, digits = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && token_char(s[i])) {
            run++;
            letters += isalpha((unsigned char)s[i]) != 0;
            digits += isdigit((unsigned char)s[i]) != 0;
            continue;
        }
        if (run >= 16 && letters >= 2 && digits >= 2)
            return "[token]";
        run = letters = digits = 0;
    }
    return NULL;
}

static bool dotted_quad(const char *s, size_t n)
{
    unsigned a, b, c, d;
    int used = 0;
    char copy[24];
    if (n >= sizeof(copy))
        return false;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return sscanf(copy, "%3u.%3u.%3u.%3u%n", &a, &b, &c, &d, &used) == 4 && (size_t)used == n;
}

/* The length of a phone-like number at s (seven digits or more), or 0. */
static size_t number_len(const char *s)
{
    size_t i = 0, digits = 0, last_digit = 0;
    while (s[i]) {
        char c = s[i];
        if (isdigit((unsigned char)c)) {
            digits++;
            last_digit = i + 1;
        } else if (c == ' ') {
            if (!isdigit((unsigned char)s[i + 1]) && s[i + 1] != '(')
                break;
        } else if (!strchr("+-.()/", c)) {
            break;
        }
        i++;
    }
    if (digits < 7 || dotted_quad(s, last_digit))
        return 0;
    /* A closing parenthesis right after the last digit belongs to the number. */
    return last_digit;
}

char *gw_log_redact(const char *in, char *out, size_t cap)
{
    struct out o = {out, 0, cap};
    if (!cap)
        return out;
    out[0] = '\0';
    for (size_t i = 0; in && in[i];) {
        bool word_start = i == 0 || !address_char(in[i - 1]);
        size_t scheme = word_start || !isalnum((unsigned char)in[i - 1]) ? scheme_len(in + i) : 0;
        if (scheme) {
            i += url(&o, in + i, scheme);
            continue;
        }
        if (word_start && address_char(in[i])) {
            size_t n = 0;
            while (in[i + n] && address_char(in[i + n]))
                n++;
            /* A sentence's full stop is not part of the word. */
            while (n > 1 && in[i + n - 1] == '.')
                n--;
            const char *marker = word_marker(in + i, n);
            if (marker) {
                add(&o, marker, strlen(marker));
                i += n;
                continue;
            }
        }
        bool number_start = isdigit((unsigned char)in[i]) ||
                            ((in[i] == '+' || in[i] == '(') && isdigit((unsigned char)in[i + 1]));
        size_t n =
            number_start && (i == 0 || !isdigit((unsigned char)in[i - 1])) ? number_len(in + i) : 0;
        if (n) {
            add(&o, "[number]", 8);
            i += n;
            continue;
        }
        add(&o, in + i, 1);
        i++;
    }
    return out;
}

/* Whether s starts with an enhanced status code (RFC 3463: 5.1.1); its length, or 0. */
static size_t enhanced_len(const char *s)
{
    if (!strchr("245", s[0]) || s[1] != '.')
        return 0;
    size_t i = 2, n = 0;
    while (isdigit((unsigned char)s[i]) && n < 3)
        i++, n++;
    if (!n || s[i] != '.')
        return 0;
    i++;
    for (n = 0; isdigit((unsigned char)s[i]) && n < 3; n++)
        i++;
    return n && (!s[i] || s[i] == ' ') ? i : 0;
}

char *gw_log_server_reason(const char *why, char *out, size_t cap)
{
    const char *colon = why ? strstr(why, ": ") : NULL;
    const char *code = colon ? colon + 2 : NULL;
    if (!code || !isdigit((unsigned char)code[0]) || !isdigit((unsigned char)code[1]) ||
        !isdigit((unsigned char)code[2]) || (code[3] && code[3] != ' '))
        return gw_log_redact(why, out, cap);
    char head[128], label[128];
    snprintf(head, sizeof(head), "%.*s", (int)(colon - why), why);
    gw_log_redact(head, label, sizeof(label));
    size_t enh = code[3] ? enhanced_len(code + 4) : 0;
    snprintf(out, cap, "%s: %.3s%s%.*s", label, code, enh ? " " : "", (int)enh, code + 4);
    return out;
}
