/*
 * Normalizers shared by the channels: one notion of a valid email address,
 * phone number and UTF-8 text for the whole gateway, so that the same person
 * is recognized whichever channel they use.
 */
#ifndef GW_VALIDATE_H
#define GW_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_arena.h"

/* Lower-cased copy of a plausible addr-spec (local@domain.tld), or NULL. */
char *gw_normalize_email(struct gw_arena *arena, const char *in);
/*
 * E.164 copy ("+" and 7-15 digits) of a number written with spaces, dashes,
 * dots or parentheses, or a leading "00" for "+"; NULL when not a number.
 */
char *gw_normalize_phone(struct gw_arena *arena, const char *in);
/*
 * The same for a number as a phone system reports it: international forms as
 * above, anything else is national to country_code (digits, e.g. "86") and
 * loses its trunk prefix "0". NULL when not a number.
 */
char *gw_normalize_phone_local(struct gw_arena *arena, const char *in, const char *country_code);
bool gw_utf8_valid(const char *s, size_t n);
/* Number of characters (code points) in valid UTF-8. */
size_t gw_utf8_length(const char *s);
/* True for an http:// or https:// URL without spaces or control characters. */
bool gw_http_url_valid(const char *url);

#endif
