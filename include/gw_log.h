/*
 * Logging to stderr, one line per event. Log lines name channels, ticket and
 * customer numbers; never message bodies, addresses, phone numbers or secrets.
 *
 * A line is an event: a dotted name ("contact.registered"), fields, and
 * optionally a human message. log.format chooses how it is written:
 *   text      2026-12-06T10:00:00.000Z info MESSAGE (or EVENT key=value ...)
 *   keyvalue  ts=... level=info event=EVENT key=value ... msg="MESSAGE" (logfmt)
 *   json      {"ts":"...","level":"info","event":"EVENT","key":"value",...,"msg":"..."}
 * Plain gw_log() lines have a message and no event. A line written while
 * a thread works for a request names it (gw_log_set_request, below).
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };

enum gw_log_format { GW_LOG_TEXT, GW_LOG_KEYVALUE, GW_LOG_JSON };

void gw_log_set_level(enum gw_log_level level);
void gw_log_set_format(enum gw_log_format format);
/* "text", "keyvalue" or "json"; -1 for anything else. */
int gw_log_format_parse(const char *name);
/* "debug", "info", "warn" or "error"; -1 for anything else. */
int gw_log_level_parse(const char *name);

void gw_log(enum gw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One field of an event. A string field whose value is NULL is left out. */
enum gw_log_kind { GW_LOG_END, GW_LOG_STR, GW_LOG_INT };
struct gw_log_field {
    const char *key; /* a literal: lower case, digits, '_' */
    enum gw_log_kind kind;
    const char *str;
    long long num;
};
#define GW_STR(k, v)                                                                               \
    {                                                                                              \
        .key = (k), .kind = GW_LOG_STR, .str = (v)                                                 \
    }
#define GW_INT(k, v)                                                                               \
    {                                                                                              \
        .key = (k), .kind = GW_LOG_INT, .num = (long long)(v)                                      \
    }
/* A field list, ended for the callee: GW_FIELDS(GW_STR("ticket", t), GW_INT("attempt", n)). */
#define GW_FIELDS(...) ((const struct gw_log_field[]){__VA_ARGS__, {.kind = GW_LOG_END}})

/* An event with fields and a message (fmt NULL is not allowed: use gw_event). */
void gw_log_event(enum gw_log_level level, const char *event, const struct gw_log_field *fields,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* An event with fields only; fields may be NULL. */
void gw_log_fields(enum gw_log_level level, const char *event, const struct gw_log_field *fields);
#define gw_event(level, event, ...) gw_log_fields((level), (event), GW_FIELDS(__VA_ARGS__))

/*
 * A condition that lasts (the database away, a number already taken) is
 * logged when it begins and when it ends, not once per request. key names
 * the condition (a string literal) and is the event of its first line; the
 * last line's event is key with ".end" after it. gw_log_begin logs only when
 * the condition was not already on, gw_log_end only when it was. Thread-safe;
 * gw_log_end costs one atomic read while no condition is on. The _fields
 * forms add fields to the line.
 */
void gw_log_begin(const char *key, enum gw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gw_log_end(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_log_begin_fields(const char *key, enum gw_log_level level,
                         const struct gw_log_field *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gw_log_end_fields(const char *key, const struct gw_log_field *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The last line of defence for text that came from elsewhere (a server's
 * refusal, a library's error): writes in into out (cap bytes, always ended)
 * with email addresses, phone-like numbers, URLs' paths and queries, and
 * long token-like strings replaced by [address], [number], [path] and
 * [token]. Returns out.
 */
char *gw_log_redact(const char *in, char *out, size_t cap);

/*
 * A failure that quotes a server ("recipient refused: 550 5.1.1 <a@b>: no
 * such user"): the label before the first ": ", the reply code and the
 * enhanced status code, without the server's words, which name the
 * recipient; text of any other shape is redacted as above. Returns out.
 */
char *gw_log_server_reason(const char *why, char *out, size_t cap);

/*
 * Request ids. Each HTTP request, WebSocket session, mail pipe run and poll
 * has one, so the lines written while handling it can be found together: a
 * client's X-Request-Id when it is short and safe (1 to GW_REQUEST_ID_MAX
 * characters of [A-Za-z0-9._-]: nothing that could split or forge a log
 * line), else one made here. A thread says which request it works for, and
 * every line it writes names it (request=ID; "request" in JSON) until it
 * says another; a worker thread says so for each job it logs about
 * (gw_intake_job.request_id).
 */
#define GW_REQUEST_ID_MAX  64
#define GW_REQUEST_ID_SIZE (GW_REQUEST_ID_MAX + 1)
/* given (may be NULL) if it is safe, else a new id, into out; returns out. */
char *gw_request_id_take(const char *given, char out[GW_REQUEST_ID_SIZE]);
/* A new id into out: 16 hex digits from OpenSSL's random generator; returns out. */
char *gw_request_id_new(char out[GW_REQUEST_ID_SIZE]);
/*
 * The calling thread's request from now on (NULL or "": none); id is
 * borrowed, so it must stay while it is set. Returns the one it replaces,
 * for putting back.
 */
const char *gw_log_set_request(const char *id);
/* The calling thread's request id, or NULL. */
const char *gw_log_request(void);

/* libwebsockets' own lines (lws_set_log_level's emit function), as "lws: ..." lines. */
void gw_log_lws(int lws_level, const char *line);

#define gw_debug(...) gw_log(GW_LOG_DEBUG, __VA_ARGS__)
#define gw_info(...)  gw_log(GW_LOG_INFO, __VA_ARGS__)
#define gw_warn(...)  gw_log(GW_LOG_WARN, __VA_ARGS__)
#define gw_error(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)

#endif
