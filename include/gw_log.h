/*
 * Logging to stderr, one line per event. Log lines name channels, ticket and
 * customer numbers; never message bodies, addresses, phone numbers or secrets.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };

void gw_log_set_level(enum gw_log_level level);
void gw_log(enum gw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A condition that lasts (the database away, a number already taken) is
 * logged when it begins and when it ends, not once per request. key names
 * the condition (a string literal); gw_log_begin logs only when the
 * condition was not already on, gw_log_end only when it was. Thread-safe;
 * gw_log_end costs one atomic read while no condition is on.
 */
void gw_log_begin(const char *key, enum gw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gw_log_end(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define gw_debug(...) gw_log(GW_LOG_DEBUG, __VA_ARGS__)
#define gw_info(...)  gw_log(GW_LOG_INFO, __VA_ARGS__)
#define gw_warn(...)  gw_log(GW_LOG_WARN, __VA_ARGS__)
#define gw_error(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)

#endif
