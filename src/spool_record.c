/*
 * The spool's file format. A file per contact rather than one append-only
 * segment: a contact leaves the spool by an unlink once it is registered,
 * nothing is ever rewritten or compacted, and arrival order is the file
 * name's sequence number. The header line
 *
 *     INTAKE-SPOOL 1 <meta bytes> <document bytes> <raw bytes> <sha256 hex>\n
 *
 * is followed by the three parts. A crash while a file is written leaves it
 * short or with parts that do not hash to the header's sum (the sender was
 * never answered 200 for it: the answer waits for the fsync), and the reader
 * calls such a file torn.
 */
#include "spool_record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAGIC "INTAKE-SPOOL 1 "

static int sum_hex(const struct spool_record *rec, char out[65])
{
    unsigned char md[32];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, rec->meta, rec->meta_len) == 1 &&
             EVP_DigestUpdate(ctx, rec->doc, rec->doc_len) == 1 &&
             (!rec->raw_len || EVP_DigestUpdate(ctx, rec->raw, rec->raw_len) == 1) &&
             EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == sizeof(md);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; ok && i < sizeof(md); i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return ok;
}

size_t spool_record_header(const struct spool_record *rec, char *out)
{
    char hex[65];
    if (!sum_hex(rec, hex))
        return 0;
    int n = snprintf(out, SPOOL_HEADER_MAX, MAGIC "%zu %zu %zu %s\n", rec->meta_len, rec->doc_len,
                     rec->raw_len, hex);
    return n > 0 && n < SPOOL_HEADER_MAX ? (size_t)n : 0;
}

/* writev until everything is out (a write may be partial). */
static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

enum gw_err spool_record_write(int dirfd, const char *name, const char *header, size_t header_len,
                               const struct spool_record *rec, const char **why)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        *why = "create";
        return GW_ERR_IO;
    }
    struct iovec iov[4] = {{(void *)header, header_len},
                           {(void *)rec->meta, rec->meta_len},
                           {(void *)rec->doc, rec->doc_len},
                           {(void *)rec->raw, rec->raw_len}};
    *why = NULL;
    if (write_all(fd, iov, rec->raw_len ? 4 : 3) != 0)
        *why = "write";
    else if (fsync(fd) != 0)
        *why = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !*why) {
        *why = "close";
        saved = errno;
    }
    /* The file's name must survive a crash too: its directory entry is in the directory. */
    if (!*why && fsync(dirfd) != 0) {
        *why = "fsync of the directory";
        saved = errno;
    }
    if (*why) {
        unlinkat(dirfd, name, 0);
        errno = saved;
        return GW_ERR_IO;
    }
    return GW_OK;
}

/* Reads all of fd (size bytes) into a new buffer. */
static char *slurp(int fd, size_t size)
{
    char *buf = malloc(size + 1);
    size_t got = 0;
    while (buf && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return NULL;
        }
        got += (size_t)r;
    }
    if (buf)
        buf[size] = '\0';
    return buf;
}

/* Parses the header line of buf (len bytes); returns its length, 0 when it is not one. */
static size_t parse_header(const char *buf, size_t len, struct spool_record *rec, char hex[65])
{
    const char *nl = memchr(buf, '\n', len < SPOOL_HEADER_MAX ? len : SPOOL_HEADER_MAX);
    if (!nl || strncmp(buf, MAGIC, strlen(MAGIC)))
        return 0;
    char line[SPOOL_HEADER_MAX];
    size_t n = (size_t)(nl - buf);
    memcpy(line, buf, n);
    line[n] = '\0';
    int used = 0;
    if (sscanf(line + strlen(MAGIC), "%zu %zu %zu %64[0-9a-f]%n", &rec->meta_len, &rec->doc_len,
               &rec->raw_len, hex, &used) != 4 ||
        (size_t)used != n - strlen(MAGIC) || strlen(hex) != 64)
        return 0;
    return n + 1;
}

enum spool_read spool_record_read(int dirfd, const char *name, size_t max, char **buf_out,
                                  struct spool_record *rec, char *why, size_t why_cap)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, why_cap, "cannot open it: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return SPOOL_READ_IO;
    }
    size_t size = (size_t)st.st_size;
    if (size > max) {
        close(fd);
        snprintf(why, why_cap, "%zu bytes, more than a spooled contact can be", size);
        return SPOOL_READ_IO;
    }
    char *buf = slurp(fd, size);
    close(fd);
    if (!buf) {
        snprintf(why, why_cap, "cannot read it");
        return SPOOL_READ_IO;
    }
    memset(rec, 0, sizeof(*rec));
    char hex[65] = "", sum[65];
    size_t h = parse_header(buf, size, rec, hex);
    size_t body = rec->meta_len + rec->doc_len + rec->raw_len;
    enum spool_read result = SPOOL_READ_TORN;
    if (!h)
        snprintf(why, why_cap, "no complete header in its %zu bytes", size);
    else if (rec->meta_len > size || rec->doc_len > size || rec->raw_len > size || h + body != size)
        snprintf(why, why_cap, "%zu bytes of the %zu its header gives", size - h, body);
    else {
        rec->meta = buf + h;
        rec->doc = rec->meta + rec->meta_len;
        rec->raw = rec->raw_len ? (const unsigned char *)rec->doc + rec->doc_len : NULL;
        if (!sum_hex(rec, sum) || strcmp(sum, hex))
            snprintf(why, why_cap, "its checksum does not match");
        else
            result = SPOOL_READ_OK;
    }
    if (result != SPOOL_READ_OK) {
        free(buf);
        return result;
    }
    *buf_out = buf;
    return SPOOL_READ_OK;
}
