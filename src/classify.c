/*
 * Keyword classification. The subject and the start of the body are
 * lower-cased (ASCII only, so UTF-8 stays intact) and searched for each rule's
 * keywords; categories are tried in configured order and the first hit wins,
 * which lets an operator say "a complaint about a broken device is a complaint".
 * ASCII keywords match on word boundaries ("down" must not fire on "download");
 * CJK keywords match anywhere, as Chinese has no spaces between words.
 */
#include "gw_classify.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Long bodies are mostly quoted history; the first part decides. */
#define CLASSIFY_SCAN_BYTES 16384

static bool is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool contains_keyword(const char *hay, const char *kw)
{
    size_t kl = strlen(kw);
    if (kl == 0)
        return false;
    bool need_left = is_word_char((unsigned char)kw[0]);
    bool need_right = is_word_char((unsigned char)kw[kl - 1]);
    for (const char *p = strstr(hay, kw); p; p = strstr(p + 1, kw)) {
        if (need_left && p > hay && is_word_char((unsigned char)p[-1]))
            continue;
        if (need_right && is_word_char((unsigned char)p[kl]))
            continue;
        return true;
    }
    return false;
}

static bool any_keyword(const char *hay, char *const *kws, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (contains_keyword(hay, kws[i]))
            return true;
    return false;
}

/* subject + "\n" + body, truncated and lower-cased; malloc'd. */
static char *lowered_text(const char *subject, const char *body)
{
    size_t sl = subject ? strnlen(subject, CLASSIFY_SCAN_BYTES) : 0;
    size_t bl = body ? strnlen(body, CLASSIFY_SCAN_BYTES) : 0;
    char *t = malloc(sl + bl + 2);
    if (!t)
        return NULL;
    if (sl)
        memcpy(t, subject, sl);
    t[sl] = '\n';
    if (bl)
        memcpy(t + sl + 1, body, bl);
    t[sl + 1 + bl] = '\0';
    for (char *c = t; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return t;
}

struct gw_classification gw_classify(const struct gw_config *cfg, const char *subject,
                                     const char *body)
{
    struct gw_classification out = {&cfg->categories[cfg->default_category], GW_PRIO_NORMAL};
    char *text = lowered_text(subject, body);
    if (!text)
        return out;
    for (size_t i = 0; i < cfg->n_categories; i++) {
        const struct gw_category *c = &cfg->categories[i];
        if (any_keyword(text, c->keywords, c->n_keywords)) {
            out.category = c;
            break;
        }
    }
    for (int p = GW_PRIO_URGENT; p < GW_PRIO_NORMAL; p++)
        if (any_keyword(text, cfg->priority_keywords[p], cfg->n_priority_keywords[p])) {
            out.priority = (enum gw_priority)p;
            break;
        }
    if (out.category->min_priority < out.priority)
        out.priority = out.category->min_priority;
    free(text);
    return out;
}

/* Decodes one UTF-8 sequence; returns its length, 0 at the end, 1 for a stray byte. */
static size_t next_codepoint(const unsigned char *s, unsigned *cp)
{
    if (!s[0])
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xF0) == 0xE0 && s[1] && s[2]) {
        *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    if ((s[0] & 0xF8) == 0xF0 && s[1] && s[2] && s[3]) {
        *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
              (s[3] & 0x3Fu);
        return 4;
    }
    *cp = 0;
    return 1;
}

static bool has_cjk(const char *text)
{
    if (!text)
        return false;
    const unsigned char *s = (const unsigned char *)text;
    size_t scanned = 0, n;
    unsigned cp;
    while (scanned < CLASSIFY_SCAN_BYTES && (n = next_codepoint(s, &cp)) > 0) {
        /* Unified ideographs, extension A, and extensions B-F in plane 2. */
        if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
            (cp >= 0x20000 && cp <= 0x2FA1F))
            return true;
        s += n;
        scanned += n;
    }
    return false;
}

/* A word of two or more ASCII letters: text written in a Latin script. */
static bool has_latin_word(const char *text)
{
    size_t run = 0;
    for (size_t i = 0; text && text[i] && i < CLASSIFY_SCAN_BYTES; i++) {
        run = ((text[i] | 0x20) >= 'a' && (text[i] | 0x20) <= 'z') ? run + 1 : 0;
        if (run >= 2)
            return true;
    }
    return false;
}

const char *gw_detect_language(const char *subject, const char *body, bool latin_counts)
{
    if (has_cjk(subject) || has_cjk(body))
        return "zh";
    return latin_counts && (has_latin_word(subject) || has_latin_word(body)) ? "en" : NULL;
}
