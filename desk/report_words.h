/*
 * The words of a report in Chinese and English, for every renderer: labels
 * of the figures and the definitions printed on every report, so that
 * anyone can check it against the database.
 */
#ifndef DESK_REPORT_WORDS_H
#define DESK_REPORT_WORDS_H

#include <stddef.h>

#include "report.h"

#define REPORT_DIMENSIONS 5

/* The five survey ratings, as intake_report names them. */
extern const char *const report_dimension_keys[REPORT_DIMENSIONS];

struct report_words {
    const char *title, *as_of, *headline, *target, *met, *missed, *no_data;
    const char *volume, *tickets, *by_channel, *by_category, *by_priority, *by_queue,
        *customer_messages, *per_day;
    const char *first_response, *median_minutes, *p90_minutes, *business_median_minutes,
        *business_p90_minutes, *answered_in_time, *unanswered_late;
    const char *resolution, *resolved, *resolution_rate, *median_hours, *p90_hours,
        *resolved_in_time, *by_priority_sla;
    const char *escalations, *level_2, *level_3, *breaches;
    const char *satisfaction, *surveys_sent, *surveys_answered, *response_rate, *satisfied,
        *comments;
    const char *dimensions[REPORT_DIMENSIONS];
    const char *followups, *followups_due, *followups_closed, *followups_on_time,
        *followups_overdue;
    const char *complaints, *share, *callbacks, *callbacks_in_time;
    const char *agents, *assigned, *answered, *mean_overall;
    const char *definitions_title;
    const char *const *definitions; /* NULL-terminated */
};

const struct report_words *report_words(enum report_lang lang);

#endif
