/*
 * application/x-www-form-urlencoded bodies (phone systems, HTML forms).
 * libcurl decodes the %XX escapes; what is left here is the split on '&'
 * and '=' and '+' for a space, which the escaping rules leave to us.
 */
#include "gw_form.h"

#include <curl/curl.h>
#include <string.h>

#include "gw_validate.h"

static const char *decode(struct gw_arena *arena, const char *s, size_t len)
{
    char *plus = gw_arena_strndup(arena, s, len);
    if (!plus)
        return NULL;
    for (char *p = plus; *p; p++)
        if (*p == '+')
            *p = ' ';
    /* curl leaves a lone '%' alone; the form would then mean something else. */
    for (const char *p = plus; (p = strchr(p, '%')) != NULL; p++)
        if (!strchr("0123456789abcdefABCDEF", p[1]) || !p[1] ||
            !strchr("0123456789abcdefABCDEF", p[2]) || !p[2])
            return NULL;
    int out_len = 0;
    char *raw = curl_easy_unescape(NULL, plus, (int)strlen(plus), &out_len);
    if (!raw)
        return NULL;
    const char *copy = NULL;
    if (memchr(raw, '\0', (size_t)out_len) == NULL && gw_utf8_valid(raw, (size_t)out_len))
        copy = gw_arena_strndup(arena, raw, (size_t)out_len);
    curl_free(raw);
    return copy;
}

bool gw_form_parse(struct gw_arena *arena, const char *body, size_t len, struct gw_form *out)
{
    out->n = 0;
    if (len == 0)
        body = ""; /* the core passes NULL for an empty body; memchr(NULL, ...) is undefined */
    if (memchr(body, '\0', len))
        return false;
    out->fields = gw_arena_alloc(arena, GW_FORM_MAX_FIELDS * sizeof(*out->fields));
    if (!out->fields)
        return false;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            if (out->n == GW_FORM_MAX_FIELDS)
                return false;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *name_end = eq ? eq : stop;
            struct gw_form_field *f = &out->fields[out->n];
            f->name = decode(arena, p, (size_t)(name_end - p));
            f->value = eq ? decode(arena, eq + 1, (size_t)(stop - eq - 1)) : "";
            if (!f->name || !f->value || !*f->name)
                return false;
            out->n++;
        }
        p = stop + 1;
    }
    return true;
}

const char *gw_form_get(const struct gw_form *form, const char *name)
{
    for (size_t i = 0; i < form->n; i++)
        if (!strcmp(form->fields[i].name, name))
            return form->fields[i].value;
    return NULL;
}
