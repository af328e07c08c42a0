/*
 * Service reports (the monthly report of the process standards): which
 * period a request names, and the report rendered for a terminal, a
 * spreadsheet or a browser. The figures come from the database whole
 * (intake_report in db/functions/reports.sql, one JSON document; the rows of
 * the CSV from intake_report_rows); this side only parses periods and
 * renders, with pure functions that tests call on fixed documents.
 */
#ifndef DESK_REPORT_H
#define DESK_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "gw_arena.h"

/* A period: local dates [from, to), and its name ("2026-11", "2026-Q4", "2026-11-03..2026-11-09").
 */
struct report_period {
    char from[11];
    char to[11];
    char name[32];
};

/*
 * A period from its text: "YYYY-MM" (a month), "YYYY-Qn" (a quarter), or
 * from and to ("YYYY-MM-DD", to included) when text is NULL; at most 366
 * days. false with *why set on a bad period.
 */
bool report_period_parse(const char *text, const char *from, const char *to,
                         struct report_period *out, const char **why);

enum report_format { REPORT_TEXT, REPORT_JSON, REPORT_CSV, REPORT_HTML };
enum report_lang { REPORT_EN, REPORT_ZH };

/* "text", "json", "csv", "html"; false when unknown. */
bool report_format_parse(const char *s, enum report_format *out);
/* "en", "zh"; false when unknown. */
bool report_lang_parse(const char *s, enum report_lang *out);

/* The report as a terminal summary, with the definitions it rests on. */
void report_write_text(FILE *out, const json_t *report, enum report_lang lang);
/* The CSV header line, and one row (a JSON object of intake_report_rows). RFC 4180 quoting. */
void report_write_csv_header(FILE *out);
void report_write_csv_row(FILE *out, const json_t *row);
/* The report as one HTML page with SVG charts and the definitions. */
void report_write_html(FILE *out, const json_t *report, enum report_lang lang);

/* report_settings.c: "reports" in the configuration. */
enum report_every { REPORT_MONTHLY, REPORT_WEEKLY };
struct report_settings {
    const char *timezone; /* reports.timezone; NULL: the calendar's, else UTC */
    int cache_s;          /* reports.cache_seconds: a served report is this fresh at least */
    char **recipients;    /* reports.recipients: mail addresses; NULL-ended, never NULL */
    size_t n_recipients;
    enum report_every every; /* reports.schedule: "monthly[:DAY]" or "weekly[:WEEKDAY]" */
    int day;                 /* monthly: the day of the month (1-28); weekly: 1 Monday .. 7 */
    const char *from;        /* reports.from: the mail's sender (required with recipients) */
    enum report_lang lang;   /* reports.language: of the mailed report (en) */
};
struct gw_problems;
/* Reads section (the "reports" object, or NULL) into *out, adding every problem found. */
void report_settings_load(const json_t *section, struct report_settings *out,
                          struct gw_problems *pr);
void report_settings_free(struct report_settings *s);
/*
 * The time zone of reports: reports.timezone, else the business-hours
 * calendar's (calendar: its JSON, or NULL), else UTC.
 */
const char *report_timezone(const struct report_settings *s, const json_t *calendar);

/*
 * report_mail.c: on the poller, the previous period's report by mail to each
 * of reports.recipients once it is due (exactly once per period and
 * recipient, whatever the number of gateways).
 */
struct gw_poll_ctx;
void report_mail_poll(struct gw_poll_ctx *ctx, const struct report_settings *rs);

#endif
