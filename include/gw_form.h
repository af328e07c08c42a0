/* Form-encoded bodies (application/x-www-form-urlencoded) as name/value pairs. */
#ifndef GW_FORM_H
#define GW_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_arena.h"

#define GW_FORM_MAX_FIELDS 256 /* more is a malformed body */

struct gw_form_field {
    const char *name;
    const char *value;
};
struct gw_form {
    struct gw_form_field *fields;
    size_t n;
};
/* false on a malformed body (bad escape, NUL, invalid UTF-8, too many fields). */
bool gw_form_parse(struct gw_arena *arena, const char *body, size_t len, struct gw_form *out);
/* The first value of name, or NULL. */
const char *gw_form_get(const struct gw_form *form, const char *name);

#endif
