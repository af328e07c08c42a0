/*
 * One spooled contact as a file (spool_record.c): a header line that gives
 * the lengths of its three parts and their SHA-256, then the parts. What
 * spool.c and the replayer share of the format.
 */
#ifndef GW_SPOOL_RECORD_H
#define GW_SPOOL_RECORD_H

#include <stddef.h>

#include "gw_error.h"

#define SPOOL_HEADER_MAX 160
/*
 * Larger files are not read (a mail is at most 32 MiB): not the spool's
 * bound, which may have been lowered since a file was written.
 */
#define SPOOL_FILE_MAX ((size_t)256 << 20)

struct spool_record {
    const char *meta; /* JSON: when, channel, keys, the registering operation */
    size_t meta_len;
    const char *doc; /* the registration document */
    size_t doc_len;
    const unsigned char *raw; /* the raw source kept with the contact, or NULL */
    size_t raw_len;
};

/* The header line for rec into out (SPOOL_HEADER_MAX); returns its length, 0 on failure. */
size_t spool_record_header(const struct spool_record *rec, char *out);
/*
 * Creates dirfd/name (mode 0600, never an existing file), writes the header
 * and the parts, fsyncs the file and then the directory. On failure the
 * file is removed and *why names the step (errno is kept).
 */
GW_MUST_USE enum gw_err spool_record_write(int dirfd, const char *name, const char *header,
                                           size_t header_len, const struct spool_record *rec,
                                           const char **why);

enum spool_read { SPOOL_READ_OK, SPOOL_READ_TORN, SPOOL_READ_IO };
/*
 * Reads dirfd/name and checks its lengths and checksum; a file over max
 * bytes is SPOOL_READ_IO (left alone, never taken for torn).
 * SPOOL_READ_OK: *buf (malloc'd, the caller frees it) holds what rec points
 * into. SPOOL_READ_TORN: the file is shorter or other than it was written
 * (a crash while writing it); why says how.
 */
enum spool_read spool_record_read(int dirfd, const char *name, size_t max, char **buf,
                                  struct spool_record *rec, char *why, size_t why_cap);

#endif
