/*
 * The desk's own addresses and what makes a message the desk's, for
 * `intake import-mail` (email_desk.c); used by the parser and the import's
 * first pass over the headers.
 */
#ifndef GW_EMAIL_DESK_H
#define GW_EMAIL_DESK_H

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stddef.h>

#include "email.h"

struct gw_config;

/* Empty; NULL without memory. */
struct gw_email_desk *gw_email_desk_create(void);
void gw_email_desk_destroy(struct gw_email_desk *desk);
/* An address, or "@domain" for every address of the domain; false: neither. */
bool gw_email_desk_add(struct gw_email_desk *desk, const char *address);
/*
 * What the configuration and the database know of the desk: the address
 * mail is sent from (channels.email.from_address), the configured IMAP
 * mailboxes' and SMTP account's users that are addresses, and agents'
 * addresses (when the database answers: when it does not, the import says
 * so itself as it opens its connections).
 */
void gw_email_desk_gather(struct gw_email_desk *desk, const struct gw_config *cfg);
size_t gw_email_desk_count(const struct gw_email_desk *desk);
/* Whether addr (lower-cased) is the desk's. Safe from several threads once filled. */
bool gw_email_desk_has(const struct gw_email_desk *desk, const char *addr);
/*
 * The customer a message of the desk's was written to (the first To, else
 * Cc, address that is not the desk's), lower-cased, g_malloc'd; NULL: none.
 */
char *gw_email_desk_recipient(const struct gw_email_desk *desk, GMimeMessage *m);
/*
 * Marks c as the desk's own message: outbound, its recipient, and as cc
 * everyone it was written to but the desk (they may answer on its ticket).
 */
void gw_email_desk_fill(const struct gw_email_desk *desk, GMimeMessage *m, struct gw_arena *arena,
                        struct gw_contact *c);

/* Lenient address syntax as the parser reads mail (email_parse.c); arena-owned, NULL: none. */
const char *gw_email_address_of(const char *in, struct gw_arena *arena);

#endif
