/*
 * A phone system's request fields: form-encoded (Twilio and most CTI
 * bridges, parsed by the core's gw_form) or a flat JSON object.
 */
#include <string.h>
#include <strings.h>

#include "gw_reply.h"
#include "gw_validate.h"
#include "phone.h"

/* A JSON object's members as fields: scalars as text, arrays as repeated fields. */
static bool add_json_value(struct gw_arena *arena, const char *name, json_t *v, struct gw_form *out,
                           int depth)
{
    const char *text = NULL;
    if (json_is_null(v))
        return true;
    if (json_is_array(v) && depth == 0) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) if (!add_json_value(arena, name, item, out, 1)) return false;
        return true;
    }
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v))
            return false; /* an escaped NUL */
        text = gw_arena_strdup(arena, json_string_value(v));
    } else if (json_is_integer(v)) {
        text = gw_arena_printf(arena, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        text = gw_arena_printf(arena, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        text = json_is_true(v) ? "true" : "false";
    } else {
        return false; /* nested objects mean nothing to a call event */
    }
    if (!text || out->n == GW_FORM_MAX_FIELDS)
        return false;
    out->fields[out->n].name = name;
    out->fields[out->n++].value = text;
    return true;
}

static bool is_type(const char *ct, const char *type)
{
    size_t n = strlen(type);
    return ct && !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

enum gw_err phone_body_fields(const struct gw_http_request *req, struct gw_arena *arena,
                              struct gw_form *out, bool *is_json, struct gw_http_reply *reply)
{
    *is_json = is_type(req->content_type, "application/json");
    if (!*is_json) {
        if (!is_type(req->content_type, "application/x-www-form-urlencoded")) {
            gw_reply_error(reply, arena, 415,
                           "Content-Type must be application/x-www-form-urlencoded or "
                           "application/json",
                           NULL);
            return GW_ERR_INVALID;
        }
        if (!gw_form_parse(arena, (const char *)req->body, req->body_len, out)) {
            gw_reply_error(reply, arena, 400,
                           "malformed form body (bad escape, NUL, invalid UTF-8 or over 256 "
                           "fields)",
                           NULL);
            return GW_ERR_INVALID;
        }
        return GW_OK;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
    out->n = 0;
    out->fields = gw_arena_alloc(arena, GW_FORM_MAX_FIELDS * sizeof(*out->fields));
    bool ok = root && json_is_object(root) && out->fields &&
              gw_utf8_valid((const char *)req->body, req->body_len);
    const char *key;
    json_t *val;
    if (ok)
        json_object_foreach(root, key, val)
        {
            const char *name = gw_arena_strdup(arena, key);
            if (!name || !add_json_value(arena, name, val, out, 0)) {
                ok = false;
                break;
            }
        }
    if (!ok) {
        const char *msg =
            !root ? gw_arena_printf(arena, "malformed JSON at line %d column %d: %s", jerr.line,
                                    jerr.column, jerr.text)
                  : "the body must be a JSON object of strings, numbers and arrays of them";
        gw_reply_error(reply, arena, 400, msg ? msg : "malformed JSON", NULL);
    }
    json_decref(root);
    return ok ? GW_OK : GW_ERR_INVALID;
}
