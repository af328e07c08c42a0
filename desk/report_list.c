/*
 * The ticket list's report filters (GET /v1/tickets): what a report's figure
 * or bar links to, so that a click lists exactly the tickets it counts.
 *   created_from, created_to  local dates, both included (the report's period or a day)
 *   timezone                  the zone those dates are local to (default UTC)
 *   channel, category         as stored
 *   breached, met             first_response | resolution: the clock ran out / was met
 *   first_response_over, first_response_upto   minutes to the first response, (over, upto]
 *   rated_from, rated_to      a survey of the ticket was answered on these local dates
 *   rating, rating_min, rating_max   its rating of one dimension (default overall) in range
 * Any of them turns the list into a report's list (all statuses unless given,
 * oldest first: intake_report_list in db/functions/report_serve.sql), so
 * the list of open work keeps its own order and index.
 */
#include <stdlib.h>
#include <string.h>

#include "desk.h"

enum kind { DATE, TEXT, CLOCK, MINUTES, RATING, DIMENSION, ZONE };

static const struct {
    const char *name;
    enum kind kind;
} filters[] = {
    {"created_from", DATE},
    {"created_to", DATE},
    {"timezone", ZONE},
    {"channel", TEXT},
    {"category", TEXT},
    {"breached", CLOCK},
    {"met", CLOCK},
    {"first_response_over", MINUTES},
    {"first_response_upto", MINUTES},
    {"rated_from", DATE},
    {"rated_to", DATE},
    {"rating", DIMENSION},
    {"rating_min", RATING},
    {"rating_max", RATING},
};

static bool one_of(const char *s, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (!strcmp(s, *allowed))
            return true;
    return false;
}

static bool valid(enum kind kind, const char *v)
{
    static const char *const clocks[] = {"first_response", "resolution", NULL};
    static const char *const dimensions[] = {
        "response_speed", "resolution_efficiency", "attitude", "professionalism", "overall", NULL};
    size_t n = strlen(v);
    char *end;
    long x;
    switch (kind) {
    case DATE: {
        struct report_period p;
        const char *why;
        return n == 10 && report_period_parse(NULL, v, v, &p, &why);
    }
    case TEXT:
        return n > 0 && n <= 47 && !strpbrk(v, "\r\n");
    case ZONE:
        return n > 0 && n <= 64 &&
               strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") == n;
    case CLOCK:
        return one_of(v, clocks);
    case DIMENSION:
        return one_of(v, dimensions);
    case MINUTES:
    case RATING:
        x = strtol(v, &end, 10);
        return *v && !*end && x >= (kind == RATING ? 1 : 0) &&
               x <= (kind == RATING ? 5 : 10 * 365 * 24 * 60);
    }
    return false;
}

const char *const desk_report_filter_names[] = {"created_from",
                                                "created_to",
                                                "timezone",
                                                "channel",
                                                "category",
                                                "breached",
                                                "met",
                                                "first_response_over",
                                                "first_response_upto",
                                                "rated_from",
                                                "rated_to",
                                                "rating",
                                                "rating_min",
                                                "rating_max",
                                                NULL};

int desk_report_filter(const char *key, const char *value, json_t *doc)
{
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        if (strcmp(key, filters[i].name))
            continue;
        if (!valid(filters[i].kind, value))
            return 0;
        if (filters[i].kind == MINUTES || filters[i].kind == RATING)
            json_object_set_new(doc, key, json_integer(strtol(value, NULL, 10)));
        else
            json_object_set_new(doc, key, json_string(value));
        return 1;
    }
    return -1;
}
