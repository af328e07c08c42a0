/*
 * Text helpers for mail bodies: HTML to readable text with libxml2's HTML
 * parser (tolerant of the tag soup mail clients produce), and cutting a
 * reply down to its new text for the ticket summary.
 */
#include <glib.h>
#include <libxml/HTMLparser.h>
#include <stdint.h>
#include <string.h>

#include "email.h"

#define TEXT_MAX (1u << 20) /* a summary-worthy body is never larger than this */

static bool is_block(const xmlChar *name)
{
    static const char *const blocks[] = {"p",  "div", "br", "li",    "tr",    "h1",         "h2",
                                         "h3", "h4",  "h5", "h6",    "table", "blockquote", "pre",
                                         "hr", "ul",  "ol", "title", NULL};
    for (const char *const *b = blocks; *b; b++)
        if (!xmlStrcasecmp(name, (const xmlChar *)*b))
            return true;
    return false;
}

static bool is_hidden(const xmlChar *name)
{
    return !xmlStrcasecmp(name, (const xmlChar *)"script") ||
           !xmlStrcasecmp(name, (const xmlChar *)"style") ||
           !xmlStrcasecmp(name, (const xmlChar *)"head");
}

static void newline(GString *out)
{
    if (out->len && out->str[out->len - 1] != '\n')
        g_string_append_c(out, '\n');
}

/* Appends text with runs of white space folded to one space. */
static void append_text(GString *out, const char *t)
{
    for (; *t && out->len < TEXT_MAX; t++) {
        bool space = *t == ' ' || *t == '\t' || *t == '\r' || *t == '\n';
        if (space) {
            if (out->len && out->str[out->len - 1] != ' ' && out->str[out->len - 1] != '\n')
                g_string_append_c(out, ' ');
        } else {
            g_string_append_c(out, *t);
        }
    }
}

static void walk(xmlNode *node, GString *out, int depth)
{
    /* libxml2 limits nesting itself; this guards our own recursion as well. */
    if (depth > 256)
        return;
    for (xmlNode *n = node; n; n = n->next) {
        if (n->type == XML_TEXT_NODE && n->content)
            append_text(out, (const char *)n->content);
        else if (n->type == XML_ELEMENT_NODE && !is_hidden(n->name)) {
            bool block = is_block(n->name);
            if (block)
                newline(out);
            walk(n->children, out, depth + 1);
            if (block)
                newline(out);
        }
    }
}

char *gw_email_html_to_text(const char *html, size_t len, struct gw_arena *arena)
{
    if (len > INT32_MAX)
        return NULL;
    htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET);
    if (!doc)
        return gw_arena_strdup(arena, "");
    GString *out = g_string_new(NULL);
    walk(xmlDocGetRootElement(doc), out, 0);
    xmlFreeDoc(doc);
    char *r = gw_arena_strndup(arena, out->str, out->len);
    g_string_free(out, TRUE);
    return r;
}

/* A line that starts the quoted history or the signature of a reply. */
static bool starts_history(const char *line, size_t len, bool after_blank)
{
    /* Mail bodies keep their CRLFs: compare without the CR. */
    if (len && line[len - 1] == '\r')
        len--;
    if (len && line[0] == '>')
        return true;
    if (len == 3 && !memcmp(line, "-- ", 3))
        return true;
    if (len == 2 && !memcmp(line, "--", 2))
        return true;
    if (g_strstr_len(line, (gssize)len, "-----Original Message-----") ||
        g_strstr_len(line, (gssize)len, "________________________________"))
        return true;
    /* "On Mon, 1 Jan 2024, Ann <a@b> wrote:" and the Chinese client forms. */
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\r'))
        len--;
    if ((len >= 6 && !memcmp(line + len - 6, "wrote:", 6)) ||
        (len >= 9 && !memcmp(line + len - 9, "写道：", 9)) ||
        (len >= 7 && !memcmp(line + len - 7, "写道:", 7)))
        return true;
    return after_blank && len > 6 && !memcmp(line, "From: ", 6);
}

/*
 * "On Mon, 1 Jul 2024 at 10:00, Ann <a@b>\nwrote:": clients wrap long
 * attribution lines, so a line starting "On " whose next line or the one
 * after ends the attribution starts the history too.
 */
static bool starts_wrapped_attribution(const char *line, size_t len)
{
    if (len < 3 || strncmp(line, "On ", 3))
        return false;
    const char *p = line + len;
    for (int i = 0; i < 2 && *p == '\n'; i++) {
        const char *next = p + 1;
        const char *eol = strchr(next, '\n');
        size_t nl = eol ? (size_t)(eol - next) : strlen(next);
        if (starts_history(next, nl, false) && nl && next[0] != '>')
            return true;
        p = next + nl;
    }
    return false;
}

char *gw_email_strip_quotes(const char *text, struct gw_arena *arena)
{
    const char *p = text, *cut = NULL;
    bool blank = true;
    while (*p && !cut) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (starts_history(p, len, blank) || starts_wrapped_attribution(p, len))
            cut = p;
        blank = len == 0 || (len == 1 && p[0] == '\r');
        p = eol ? eol + 1 : p + len;
    }
    size_t keep = cut ? (size_t)(cut - text) : strlen(text);
    while (keep && strchr(" \t\r\n", text[keep - 1]))
        keep--;
    /* A message that is nothing but a quote is summarized as it is. */
    if (keep == 0)
        return gw_arena_strdup(arena, text);
    return gw_arena_strndup(arena, text, keep);
}
