/*
 * Normalizers. Email validation is deliberately modest (one "@", no spaces,
 * a dotted domain): mail systems accept far more than RFC 5322's grammar
 * suggests, and the point is to catch typos, not to reject real customers.
 */
#include "gw_validate.h"

#include <stdio.h>
#include <string.h>

#define EMAIL_MAX 254

char *gw_normalize_email(struct gw_arena *arena, const char *in)
{
    size_t n = strlen(in);
    if (n < 3 || n > EMAIL_MAX)
        return NULL;
    const char *at = strchr(in, '@');
    if (!at || at == in || strchr(at + 1, '@'))
        return NULL;
    const char *domain = at + 1;
    const char *dot = strrchr(domain, '.');
    if (!dot || dot == domain || dot[1] == '\0' || domain[0] == '.' || strstr(domain, ".."))
        return NULL;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == ',' || *p == ';' ||
            *p == '"' || *p == '(' || *p == ')' || *p == '[' || *p == ']' || *p == '\\')
            return NULL;
    char *out = gw_arena_strndup(arena, in, n);
    if (!out)
        return NULL;
    for (char *c = out; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return out;
}

char *gw_normalize_phone(struct gw_arena *arena, const char *in)
{
    char digits[16];
    size_t n = 0;
    const char *p = in;
    while (*p == ' ')
        p++;
    if (*p == '+')
        p++;
    else if (p[0] == '0' && p[1] == '0')
        p += 2;
    else
        return NULL; /* without a country code the number is ambiguous */
    for (; *p; p++) {
        /* "+44 (0)20 ...": the bracketed trunk zero is not dialled from abroad. */
        if (!strncmp(p, "(0)", 3) && n > 0) {
            p += 2;
            continue;
        }
        if (*p >= '0' && *p <= '9') {
            if (n == 15)
                return NULL;
            digits[n++] = *p;
        } else if (!strchr(" -.()", *p)) {
            return NULL;
        }
    }
    if (n < 7 || digits[0] == '0')
        return NULL;
    char *out = gw_arena_alloc(arena, n + 2);
    if (!out)
        return NULL;
    out[0] = '+';
    memcpy(out + 1, digits, n);
    out[n + 1] = '\0';
    return out;
}

char *gw_normalize_phone_local(struct gw_arena *arena, const char *in, const char *country_code)
{
    const char *p = in;
    while (*p == ' ')
        p++;
    if (*p == '+' || (p[0] == '0' && p[1] == '0') || !country_code)
        return gw_normalize_phone(arena, in);
    /* A national number: its trunk prefix "0" is not dialled after the country code. */
    const char *first_digit = p + strcspn(p, "0123456789");
    char composed[64];
    int n = snprintf(composed, sizeof(composed), "+%s %.*s%s", country_code, (int)(first_digit - p),
                     p, *first_digit == '0' ? first_digit + 1 : first_digit);
    if (n < 0 || (size_t)n >= sizeof(composed))
        return NULL;
    return gw_normalize_phone(arena, composed);
}

bool gw_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return false;
        i += len;
    }
    return true;
}

size_t gw_utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

bool gw_http_url_valid(const char *url)
{
    const char *rest;
    if (!strncmp(url, "http://", 7))
        rest = url + 7;
    else if (!strncmp(url, "https://", 8))
        rest = url + 8;
    else
        return false;
    if (!*rest || *rest == '/')
        return false;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return strlen(url) <= 2048;
}
