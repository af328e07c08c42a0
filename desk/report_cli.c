/*
 * `intake report`: a period's service report on standard output.
 *   intake report --month YYYY-MM | --quarter YYYY-Qn | --from DATE --to DATE
 *                 [--format text|json|csv|html] [--queue Q] [--lang en|zh]
 *                 [--timezone ZONE] [--as-of TIME]
 * The time zone is the business-hours calendar's unless given. CSV rows are
 * read from the database one at a time (single-row mode), so a month of
 * 200,000 tickets never sits in memory whole. Exit status: 0 done, 64 a
 * request that cannot be reported (with why), 69 database unavailable.
 */
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_config.h"
#include "gw_db.h"
#include "report.h"

enum { EXIT_USAGE = 64, EXIT_UNAVAILABLE = 69, EXIT_SOFTWARE = 70 };

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "intake report: %s\n", why);
    fputs("usage: intake report --month YYYY-MM | --quarter YYYY-Qn | --from DATE --to DATE\n"
          "                     [--format text|json|csv|html] [--queue Q] [--lang en|zh]\n"
          "                     [--timezone ZONE] [--as-of TIME]\n",
          stderr);
    return EXIT_USAGE;
}

/* The time zone of reports (report_timezone). */
static const char *default_timezone(const struct gw_config *cfg, json_t **cal)
{
    *cal = cfg->business_hours ? json_loads(cfg->business_hours, 0, NULL) : NULL;
    return report_timezone(&desk_settings(cfg)->reports, *cal);
}

static int write_csv(PGconn *conn, const char *doc)
{
    const char *params[] = {doc};
    if (!PQsendQueryParams(conn, "SELECT intake_report_rows($1::jsonb)", 1, NULL, params, NULL,
                           NULL, 0) ||
        !PQsetSingleRowMode(conn))
        return EXIT_UNAVAILABLE;
    report_write_csv_header(stdout);
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            json_t *row = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
            if (row)
                report_write_csv_row(stdout, row);
            json_decref(row);
        } else if (st != PGRES_TUPLES_OK) {
            fprintf(stderr, "intake report: %s\n", PQresultErrorMessage(res));
            rc = gw_db_is_broken(conn) ? EXIT_UNAVAILABLE : EXIT_SOFTWARE;
        }
        PQclear(res);
    }
    return rc;
}

static int run(const json_t *request, enum report_format format, enum report_lang lang,
               const struct gw_config *cfg)
{
    PGconn *conn = NULL;
    if (gw_db_connect(cfg->database_url, "intake-report", &conn) != GW_OK) {
        fprintf(stderr, "intake report: cannot reach the database\n");
        return EXIT_UNAVAILABLE;
    }
    char *doc = json_dumps(request, JSON_COMPACT);
    int rc = EXIT_SOFTWARE;
    PGresult *res = doc ? desk_call(conn, "intake report",
                                    "SELECT intake_report_problem($1::jsonb)", doc, NULL, &rc)
                        : NULL;
    if (res && !PQgetisnull(res, 0, 0)) {
        json_t *problem = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        rc = usage(json_string_value(json_object_get(problem, "error")));
        json_decref(problem);
    } else if (res && format == REPORT_CSV) {
        rc = write_csv(conn, doc);
    } else if (res) {
        PQclear(res);
        res = desk_call(conn, "intake report", "SELECT intake_report($1::jsonb)", doc, NULL, &rc);
        json_t *report = res ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
        if (report && format == REPORT_JSON) {
            json_dumpf(report, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
        } else if (report && format == REPORT_HTML) {
            report_write_html(stdout, report, lang);
        } else if (report) {
            report_write_text(stdout, report, lang);
        }
        if (report)
            rc = 0;
        json_decref(report);
    }
    PQclear(res);
    free(doc);
    PQfinish(conn);
    return rc;
}

int desk_report_command(int argc, char **argv, const struct gw_config *cfg)
{
    static const struct option opts[] = {
        {"month", required_argument, NULL, 'm'},  {"quarter", required_argument, NULL, 'q'},
        {"from", required_argument, NULL, 'f'},   {"to", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'o'}, {"queue", required_argument, NULL, 'Q'},
        {"lang", required_argument, NULL, 'l'},   {"timezone", required_argument, NULL, 'z'},
        {"as-of", required_argument, NULL, 'a'},  {NULL, 0, NULL, 0}};
    const char *period = NULL, *from = NULL, *to = NULL, *queue = NULL, *tz = NULL, *as_of = NULL;
    enum report_format format = REPORT_TEXT;
    enum report_lang lang = REPORT_EN;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if ((o == 'm' || o == 'q') && period)
            return usage("give one period");
        if (o == 'm' || o == 'q')
            period = optarg;
        else if (o == 'f')
            from = optarg;
        else if (o == 't')
            to = optarg;
        else if (o == 'Q')
            queue = optarg;
        else if (o == 'z')
            tz = optarg;
        else if (o == 'a')
            as_of = optarg;
        else if (o == 'o' && !report_format_parse(optarg, &format))
            return usage("--format is text, json, csv or html");
        else if (o == 'l' && !report_lang_parse(optarg, &lang))
            return usage("--lang is en or zh");
        else if (o == '?')
            return usage(NULL);
    }
    if (optind != argc || (period && (from || to)) || (!period && (!from || !to)))
        return usage("give --month, --quarter, or --from and --to");
    struct report_period p;
    const char *why = NULL;
    if (!report_period_parse(period, from, to, &p, &why))
        return usage(why);
    json_t *cal = NULL;
    const char *zone = default_timezone(cfg, &cal);
    json_t *request = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:O?}", "from", p.from, "to",
                                p.to, "period", p.name, "timezone", tz ? tz : zone, "queue", queue,
                                "as_of", as_of, "calendar", cal);
    json_decref(cal);
    if (!request)
        return EXIT_SOFTWARE;
    int rc = run(request, format, lang, cfg);
    json_decref(request);
    return rc;
}
