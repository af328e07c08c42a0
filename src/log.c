/*
 * stderr logger: timestamp, level, message. A mutex keeps lines whole across
 * threads. Lasting conditions (gw_log_begin/gw_log_end) are a small table of
 * keys that are on, under the same mutex; an atomic count of them lets the
 * hot path that ends a condition (every committed batch) skip the lock.
 */
#include "gw_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_CONDITIONS 32

static enum gw_log_level min_level = GW_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *conditions_on[MAX_CONDITIONS];
static atomic_int n_conditions_on;

void gw_log_set_level(enum gw_log_level level)
{
    min_level = level;
}

/* Writes one line; the caller holds log_lock. */
__attribute__((format(printf, 2, 0))) static void write_line(enum gw_log_level level,
                                                             const char *fmt, va_list ap)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s ", stamp, ts.tv_nsec / 1000000, names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void gw_log(enum gw_log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    write_line(level, fmt, ap);
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
}

/* The slot of key among the conditions that are on, or -1; the caller holds log_lock. */
static int condition_slot(const char *key)
{
    for (int i = 0; i < MAX_CONDITIONS; i++)
        if (conditions_on[i] && !strcmp(conditions_on[i], key))
            return i;
    return -1;
}

void gw_log_begin(const char *key, enum gw_log_level level, const char *fmt, ...)
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
            va_list ap;
            va_start(ap, fmt);
            write_line(level, fmt, ap);
            va_end(ap);
        }
    }
    pthread_mutex_unlock(&log_lock);
}

void gw_log_end(const char *key, const char *fmt, ...)
{
    if (atomic_load(&n_conditions_on) == 0)
        return;
    pthread_mutex_lock(&log_lock);
    int slot = condition_slot(key);
    if (slot >= 0) {
        conditions_on[slot] = NULL;
        atomic_fetch_sub(&n_conditions_on, 1);
        if (GW_LOG_INFO >= min_level) {
            va_list ap;
            va_start(ap, fmt);
            write_line(GW_LOG_INFO, fmt, ap);
            va_end(ap);
        }
    }
    pthread_mutex_unlock(&log_lock);
}
