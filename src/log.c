/*
 * stderr logger: one event a line, as text for a person or as logfmt or JSON
 * for a collector (log.format). A line is built whole in memory and written
 * with one fwrite under a mutex, so lines stay whole across threads (and,
 * being one write, across processes appending to one file). JSON goes
 * through jansson, so its escaping is a JSON library's, not ours; logfmt
 * quotes a value that needs it, with JSON's escapes. Every value is cut at
 * MAX_VALUE bytes and controls never reach a text line: one event, one line.
 * Lasting conditions (gw_log_begin/gw_log_end) are a small table of keys
 * that are on, under the same mutex; an atomic count of them lets the hot
 * path that ends a condition (every committed batch) skip the lock. The
 * request a thread works for is a thread-local pointer, so naming it on
 * every line costs no lock and no call in the code that logs.
 */
#include "gw_log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONDITIONS 32
#define MAX_VALUE      1024

static enum gw_log_level min_level = GW_LOG_INFO;
static enum gw_log_format format = GW_LOG_TEXT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *conditions_on[MAX_CONDITIONS];
static atomic_int n_conditions_on;
/* The request the thread works for (gw_log_set_request); NULL or "": none. */
static _Thread_local const char *thread_request;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void gw_log_set_level(enum gw_log_level level)
{
    min_level = level;
}

void gw_log_set_format(enum gw_log_format f)
{
    format = f;
}

const char *gw_log_set_request(const char *id)
{
    const char *was = thread_request;
    thread_request = id;
    return was;
}

const char *gw_log_request(void)
{
    return thread_request && thread_request[0] ? thread_request : NULL;
}

int gw_log_format_parse(const char *name)
{
    static const char *const names[] = {"text", "keyvalue", "json"};
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

int gw_log_level_parse(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, level_names[i]))
            return i;
    return -1;
}

/* A line being built; on running out of memory it stays short, never broken. */
struct line {
    char *s;
    size_t len, cap;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->len + n + 2 > l->cap) {
        size_t cap = (l->len + n + 2) * 2;
        char *grown = realloc(l->s, cap);
        if (!grown)
            return;
        l->s = grown;
        l->cap = cap;
    }
    memcpy(l->s + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* At most MAX_VALUE bytes of s, not splitting a UTF-8 sequence. */
static size_t value_len(const char *s)
{
    size_t n = strlen(s);
    if (n <= MAX_VALUE)
        return n;
    n = MAX_VALUE;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* s as text: controls become spaces, so a line never splits. */
static void put_plain(struct line *l, const char *s)
{
    size_t n = value_len(s);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        put(l, (unsigned char)c < 0x20 || c == 0x7f ? " " : &c, 1);
    }
}

/* s as a logfmt value: bare when it can be, else quoted with JSON's escapes. */
static void put_logfmt(struct line *l, const char *s)
{
    size_t n = value_len(s);
    bool bare = n > 0;
    for (size_t i = 0; i < n && bare; i++)
        bare = (unsigned char)s[i] > 0x20 && s[i] != '"' && s[i] != '=' && s[i] != '\\' &&
               s[i] != 0x7f;
    if (bare) {
        put(l, s, n);
        return;
    }
    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c == '\t') {
            put(l, "\\t", 2);
        } else if (c == '\r') {
            put(l, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, 6);
        } else {
            put(l, (const char *)&s[i], 1);
        }
    }
    put(l, "\"", 1);
}

static void stamp(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char day[24];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03ldZ", day, ts.tv_nsec / 1000000);
}

/* A JSON string of s (cut at MAX_VALUE); bytes that are not UTF-8 become '?'. */
static json_t *json_text(const char *s)
{
    size_t n = value_len(s);
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *copy = strndup(s, n);
    for (char *c = copy; c && *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy ? copy : "");
    free(copy);
    return j;
}

static void build_json(struct line *l, const char *ts, enum gw_log_level level, const char *event,
                       const struct gw_log_field *fields, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[level]));
    if (event)
        json_object_set_new(o, "event", json_string(event));
    if (gw_log_request())
        json_object_set_new(o, "request", json_text(gw_log_request()));
    for (const struct gw_log_field *f = fields; f && f->kind != GW_LOG_END; f++) {
        if (f->kind == GW_LOG_INT)
            json_object_set_new(o, f->key, json_integer((json_int_t)f->num));
        else if (f->str)
            json_object_set_new(o, f->key, json_text(f->str));
    }
    if (msg)
        json_object_set_new(o, "msg", json_text(msg));
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (text)
        puts_(l, text);
    free(text);
}

/* key=value for each field, each after a space. */
static void put_fields(struct line *l, const struct gw_log_field *fields)
{
    for (const struct gw_log_field *f = fields; f && f->kind != GW_LOG_END; f++) {
        char num[32];
        const char *v = f->str;
        if (f->kind == GW_LOG_INT) {
            snprintf(num, sizeof(num), "%lld", f->num);
            v = num;
        }
        if (!v)
            continue;
        put(l, " ", 1);
        puts_(l, f->key);
        put(l, "=", 1);
        put_logfmt(l, v);
    }
}

/* The whole line of an event, ended by a newline; the caller frees l->s. */
static void build(struct line *l, enum gw_log_level level, const char *event,
                  const struct gw_log_field *fields, const char *msg)
{
    char ts[40];
    stamp(ts, sizeof(ts));
    if (format == GW_LOG_JSON) {
        build_json(l, ts, level, event, fields, msg);
    } else if (format == GW_LOG_KEYVALUE) {
        puts_(l, "ts=");
        puts_(l, ts);
        puts_(l, " level=");
        puts_(l, level_names[level]);
        if (event) {
            puts_(l, " event=");
            put_logfmt(l, event);
        }
        if (gw_log_request()) {
            puts_(l, " request=");
            put_logfmt(l, gw_log_request());
        }
        put_fields(l, fields);
        if (msg) {
            puts_(l, " msg=");
            put_logfmt(l, msg);
        }
    } else {
        puts_(l, ts);
        put(l, " ", 1);
        puts_(l, level_names[level]);
        put(l, " ", 1);
        /* A message says it all to a person; an event without one shows its fields. */
        if (msg) {
            put_plain(l, msg);
        } else {
            puts_(l, event ? event : "");
            put_fields(l, fields);
        }
        if (gw_log_request()) {
            puts_(l, " request=");
            put_plain(l, gw_log_request());
        }
    }
    put(l, "\n", 1);
}

/* fmt with ap, or NULL when out of memory; the caller frees it. */
__attribute__((format(printf, 1, 0))) static char *format_msg(const char *fmt, va_list ap)
{
    char *msg = NULL;
    return vasprintf(&msg, fmt, ap) < 0 ? NULL : msg;
}

/* Writes the event (msg NULL: none); the caller holds log_lock when locked says so. */
static void emit(enum gw_log_level level, const char *event, const struct gw_log_field *fields,
                 bool locked, const char *msg)
{
    struct line l = {0};
    build(&l, level, event, fields, msg);
    if (!locked)
        pthread_mutex_lock(&log_lock);
    if (l.s)
        fwrite(l.s, 1, l.len, stderr);
    if (!locked)
        pthread_mutex_unlock(&log_lock);
    free(l.s);
}

void gw_log(enum gw_log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_msg(fmt, ap);
    va_end(ap);
    emit(level, NULL, NULL, false, msg ? msg : fmt);
    free(msg);
}

void gw_log_event(enum gw_log_level level, const char *event, const struct gw_log_field *fields,
                  const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_msg(fmt, ap);
    va_end(ap);
    emit(level, event, fields, false, msg ? msg : fmt);
    free(msg);
}

void gw_log_fields(enum gw_log_level level, const char *event, const struct gw_log_field *fields)
{
    if (level >= min_level)
        emit(level, event, fields, false, NULL);
}

/* The slot of key among the conditions that are on, or -1; the caller holds log_lock. */
static int condition_slot(const char *key)
{
    for (int i = 0; i < MAX_CONDITIONS; i++)
        if (conditions_on[i] && !strcmp(conditions_on[i], key))
            return i;
    return -1;
}

__attribute__((format(printf, 4, 0))) static void begin(const char *key, enum gw_log_level level,
                                                        const struct gw_log_field *fields,
                                                        const char *fmt, va_list ap)
{
    pthread_mutex_lock(&log_lock);
    if (condition_slot(key) < 0) {
        /* A full table only costs the silence: the line is still written. */
        for (int i = 0; i < MAX_CONDITIONS; i++)
            if (!conditions_on[i]) {
                conditions_on[i] = key;
                atomic_fetch_add(&n_conditions_on, 1);
                break;
            }
        if (level >= min_level) {
            char *msg = format_msg(fmt, ap);
            emit(level, key, fields, true, msg ? msg : fmt);
            free(msg);
        }
    }
    pthread_mutex_unlock(&log_lock);
}

__attribute__((format(printf, 3, 0))) static void
end(const char *key, const struct gw_log_field *fields, const char *fmt, va_list ap)
{
    if (atomic_load(&n_conditions_on) == 0)
        return;
    pthread_mutex_lock(&log_lock);
    int slot = condition_slot(key);
    if (slot >= 0) {
        conditions_on[slot] = NULL;
        atomic_fetch_sub(&n_conditions_on, 1);
        if (GW_LOG_INFO >= min_level) {
            char event[96];
            snprintf(event, sizeof(event), "%s.end", key);
            char *msg = format_msg(fmt, ap);
            emit(GW_LOG_INFO, event, fields, true, msg ? msg : fmt);
            free(msg);
        }
    }
    pthread_mutex_unlock(&log_lock);
}

void gw_log_begin(const char *key, enum gw_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    begin(key, level, NULL, fmt, ap);
    va_end(ap);
}

void gw_log_begin_fields(const char *key, enum gw_log_level level,
                         const struct gw_log_field *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    begin(key, level, fields, fmt, ap);
    va_end(ap);
}

void gw_log_end(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end(key, NULL, fmt, ap);
    va_end(ap);
}

void gw_log_end_fields(const char *key, const struct gw_log_field *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    end(key, fields, fmt, ap);
    va_end(ap);
}

void gw_log_lws(int lws_level, const char *line)
{
    /* LLL_ERR is 1 in libwebsockets' levels; everything else it is told to emit is a warning. */
    enum gw_log_level level = (lws_level & 1) ? GW_LOG_ERROR : GW_LOG_WARN;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    gw_log(level, "lws: %.*s", (int)n, line);
}
