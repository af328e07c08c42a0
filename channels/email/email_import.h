/*
 * `intake import-mail`'s own parts: the command (email_import.c) and what it
 * prints (email_import_progress.c).
 */
#ifndef GW_EMAIL_IMPORT_H
#define GW_EMAIL_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

struct gw_import_progress {
    size_t total;
    double interval_s; /* between plain lines when stderr is no terminal */
    bool tty;
    bool drawn;
    double started, last;
};

/* Lines naming messages and why (malloc'd, the tally's). */
struct gw_import_lines {
    char **lines;
    size_t n, cap;
};

/*
 * What came of the messages. left_out: the desk's own messages that
 * belonged nowhere (no thread, nobody written to), stored nowhere.
 */
struct gw_import_tally {
    size_t imported, new_tickets, skipped, refused;
    size_t from_desk; /* of imported: the desk's own messages */
    size_t left_out;
    char **listed;
    size_t n_listed, cap_listed;
    struct gw_import_lines left_out_lines;
};

double gw_import_now(void);
void gw_import_progress_init(struct gw_import_progress *p, size_t total, double interval_s);
/* done messages so far; drawn when it is time (force: now). */
void gw_import_progress_tick(struct gw_import_progress *p, size_t done, bool force);
void gw_import_progress_end(struct gw_import_progress *p);

/* where: "message 12 (byte offset 3456)"; reason: a fixed sentence, no personal data. */
void gw_import_refuse(struct gw_import_tally *t, const char *where, const char *reason);
/* A desk's message stored nowhere; where and reason as for a refusal. */
void gw_import_leave_out(struct gw_import_tally *t, const char *where, const char *reason);
/* stopped: why the import ended early (NULL: it went through); left_out: folders not read. */
void gw_import_summary(const struct gw_import_tally *t, const char *path, const char *kind,
                       size_t total, double seconds, const char *stopped, const char *left_out,
                       size_t desk_addresses);
void gw_import_tally_free(struct gw_import_tally *t);

#endif
