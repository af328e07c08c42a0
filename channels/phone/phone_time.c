/*
 * Event times as phone systems write them: RFC 3339 (our JSON, most CTI
 * bridges), RFC 2822 (Twilio's Timestamp) or Unix seconds. strptime reads the
 * date and time; the zone offset is read here because %z differs between C
 * libraries in whether it takes "+08:00".
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phone.h"

/* Seconds east of UTC for "Z", "GMT", "UT", "+hhmm" or "+hh:mm"; false otherwise. */
static bool zone_offset(const char *p, long *out)
{
    while (*p == ' ')
        p++;
    if (!strcmp(p, "Z") || !strcmp(p, "GMT") || !strcmp(p, "UT") || !strcmp(p, "UTC")) {
        *out = 0;
        return true;
    }
    if (*p != '+' && *p != '-')
        return false;
    int sign = *p == '-' ? -1 : 1;
    const char *d = p + 1;
    if (strspn(d, "0123456789") < 2)
        return false;
    long hh = (d[0] - '0') * 10 + (d[1] - '0');
    d += 2;
    if (*d == ':')
        d++;
    if (strspn(d, "0123456789") != 2 || d[2] != '\0')
        return false;
    long mm = (d[0] - '0') * 10 + (d[1] - '0');
    if (hh > 23 || mm > 59)
        return false;
    *out = sign * (hh * 3600 + mm * 60);
    return true;
}

long phone_parse_time(const char *s)
{
    if (!s || !*s)
        return 0;
    if (strspn(s, "0123456789") == strlen(s) && strlen(s) <= 12)
        return strtol(s, NULL, 10);
    static const char *const formats[] = {"%Y-%m-%dT%H:%M:%S", "%a, %d %b %Y %H:%M:%S",
                                          "%d %b %Y %H:%M:%S", NULL};
    for (const char *const *f = formats; *f; f++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *rest = strptime(s, *f, &tm);
        if (!rest)
            continue;
        if (*rest == '.') /* fractions of a second */
            rest += 1 + strspn(rest + 1, "0123456789");
        long offset;
        if (!zone_offset(rest, &offset))
            return 0;
        time_t t = timegm(&tm);
        return t < 0 ? 0 : (long)t - offset;
    }
    return 0;
}
