/*
 * What the archive's two files share (email_archive.c lists and reads,
 * email_archive_order.c orders); the rest of the channel sees email.h only.
 */
#ifndef GW_EMAIL_ARCHIVE_H
#define GW_EMAIL_ARCHIVE_H

#include <glib.h>
#include <stddef.h>

#include "email.h"

struct gw_mail_archive {
    char *path;
    const char *kind;         /* "mbox" or "Maildir" */
    const unsigned char *map; /* mbox: the file, mapped */
    size_t map_len;
    struct gw_mail_entry *entries; /* in the archive's order */
    size_t n, cap;
    size_t *order;       /* import order: indexes into entries; NULL: archive order */
    GStringChunk *names; /* Maildir file names */
    GString *left_out;   /* Maildir++ subfolders not imported (sent, trash ...), or NULL */
};

#endif
