/*
 * Report periods from what people type: a month ("2026-11"), a quarter
 * ("2026-Q4") or two dates. Every date is checked against the calendar
 * (2026-02-30 is refused, not rolled over). Dates are local to the report's
 * time zone; the database turns them into instants, and refuses a period
 * that has not begun there (intake_report_problem): its report would be all
 * zeros that look like a real quiet month.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report.h"

#define MAX_DAYS 366

/* "YYYY-MM-DD" to days since 1970-01-01; false if it is not a real date. */
static bool parse_date(const char *s, long *days)
{
    int y, m, d;
    char tail;
    if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
        s[4] != '-' || s[7] != '-' || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm(&tm);
    /* timegm normalizes the 30th of February into March: a changed day means no such date. */
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1)
        return false;
    *days = (long)(t / 86400);
    return true;
}

static void format_date(long days, char out[11])
{
    time_t t = (time_t)days * 86400 + 43200;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Days of the first of a month, months counted from year 0. */
static long month_start(int y, int m)
{
    char s[32];
    y += (m - 1) / 12;
    m = (m - 1) % 12 + 1;
    snprintf(s, sizeof(s), "%04d-%02d-01", y, m);
    long days = 0;
    parse_date(s, &days);
    return days;
}

bool report_period_parse(const char *text, const char *from, const char *to,
                         struct report_period *out, const char **why)
{
    long start, end;
    int y, n;
    char tail;
    if (text && strlen(text) == 7 && sscanf(text, "%4d-%2d%c", &y, &n, &tail) == 2 &&
        text[4] == '-' && y >= 1970 && y <= 9998 && n >= 1 && n <= 12) {
        start = month_start(y, n);
        end = month_start(y, n + 1);
        snprintf(out->name, sizeof(out->name), "%s", text);
    } else if (text && strlen(text) == 7 && sscanf(text, "%4d-Q%1d%c", &y, &n, &tail) == 2 &&
               text[4] == '-' && y >= 1970 && y <= 9998 && n >= 1 && n <= 4) {
        start = month_start(y, 3 * n - 2);
        end = month_start(y, 3 * n + 1);
        snprintf(out->name, sizeof(out->name), "%s", text);
    } else if (text) {
        *why = "the period must be a month (YYYY-MM) or a quarter (YYYY-Qn)";
        return false;
    } else {
        long last;
        if (!parse_date(from, &start) || !parse_date(to, &last)) {
            *why = "from and to must be dates (YYYY-MM-DD)";
            return false;
        }
        if (last < start) {
            *why = "the period ends before it begins";
            return false;
        }
        end = last + 1;
        if (end - start > MAX_DAYS) {
            *why = "a period is at most 366 days";
            return false;
        }
        snprintf(out->name, sizeof(out->name), "%.10s..%.10s", from, to);
    }
    format_date(start, out->from);
    format_date(end, out->to);
    return true;
}

bool report_format_parse(const char *s, enum report_format *out)
{
    static const char *const names[] = {"text", "json", "csv", "html"};
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (enum report_format)i;
            return true;
        }
    return false;
}

bool report_lang_parse(const char *s, enum report_lang *out)
{
    if (s && !strcmp(s, "en"))
        *out = REPORT_EN;
    else if (s && !strcmp(s, "zh"))
        *out = REPORT_ZH;
    else
        return false;
    return true;
}
