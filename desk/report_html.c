/*
 * A report as one HTML page: the headline figures against their targets,
 * the parts as tables, four charts drawn as inline SVG (tickets per day,
 * first responses by time taken, satisfaction per rating, deadlines met by
 * priority) and the definitions. One file with no script and nothing
 * fetched from elsewhere, so it reads the same in a mail client, a browser
 * or an archive years later. Everything from the database is escaped.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_words.h"

#define CHART_W 640
#define CHART_H 180

static void esc(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

static const json_t *at(const json_t *r, const char *part, const char *key)
{
    return json_object_get(json_object_get(r, part), key);
}

static void num(FILE *out, const json_t *v, const char *unit)
{
    if (json_is_integer(v))
        fprintf(out, "%lld%s", (long long)json_integer_value(v), unit);
    else if (json_is_number(v))
        fprintf(out, "%.1f%s", json_number_value(v), unit);
    else
        fputs("&ndash;", out);
}

static void row(FILE *out, const char *label, const json_t *v, const char *unit)
{
    fputs("<tr><th>", out);
    esc(out, label);
    fputs("</th><td>", out);
    num(out, v, unit);
    fputs("</td></tr>\n", out);
}

/* A headline figure against its target, green when met. */
static void headline(FILE *out, const struct report_words *w, const char *label, const json_t *pct,
                     int target)
{
    bool known = json_is_number(pct), met = known && json_number_value(pct) >= target;
    fprintf(out, "<div class=\"kpi %s\"><div class=\"v\">",
            !known ? "none"
            : met  ? "met"
                   : "missed");
    num(out, pct, " %");
    fputs("</div><div>", out);
    esc(out, label);
    fprintf(out, "</div><div class=\"t\">%s %d %% &middot; %s</div></div>\n", w->target, target,
            !known ? w->no_data
            : met  ? w->met
                   : w->missed);
}

/* A bar chart of n labelled values; max 0 scales to the largest value. */
static void bars(FILE *out, const char *title, const char *const *labels, const double *values,
                 size_t n, double max, const char *unit)
{
    for (size_t i = 0; i < n && max <= 0; i++)
        max = values[i] > max ? values[i] : max;
    if (max <= 0)
        max = 1;
    fputs("<figure><figcaption>", out);
    esc(out, title);
    fprintf(out, "</figcaption><svg viewBox=\"0 0 %d %d\" role=\"img\">", CHART_W, CHART_H + 40);
    double slot = n ? (double)CHART_W / (double)n : CHART_W;
    for (size_t i = 0; i < n; i++) {
        double h = values[i] / max * CHART_H, x = slot * (double)i + slot * 0.15;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>", x,
                CHART_H - h + 14, slot * 0.7, h);
        esc(out, labels[i]);
        fprintf(out, ": %.1f%s</title></rect>", values[i], unit);
        if (n <= 12 || i % (n / 8 + 1) == 0) {
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", x + slot * 0.35,
                    CHART_H + 32);
            esc(out, labels[i]);
            fputs("</text>", out);
        }
        if (n <= 12) {
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.4g</text>",
                    x + slot * 0.35, CHART_H - h + 10, values[i]);
        }
    }
    fputs("</svg></figure>\n", out);
}

static void chart_per_day(FILE *out, const struct report_words *w, const json_t *r)
{
    const json_t *days = at(r, "volume", "per_day");
    size_t n = json_array_size(days);
    const char **labels = calloc(n + 1, sizeof(*labels));
    double *values = calloc(n + 1, sizeof(*values));
    for (size_t i = 0; labels && values && i < n; i++) {
        const json_t *d = json_array_get(days, i);
        const char *day = json_string_value(json_object_get(d, "day"));
        labels[i] = day && strlen(day) == 10 ? day + 5 : "";
        values[i] = (double)json_integer_value(json_object_get(d, "tickets"));
    }
    if (labels && values)
        bars(out, w->per_day, labels, values, n, 0, "");
    free(labels);
    free(values);
}

static void chart_first_response(FILE *out, const struct report_words *w, const json_t *r)
{
    static const char *const keys[] = {"up_to_15_min", "up_to_1_h", "up_to_4_h", "up_to_24_h",
                                       "over_24_h"};
    static const char *const labels[] = {"<=15 min", "<=1 h", "<=4 h", "<=24 h", ">24 h"};
    double values[5];
    for (size_t i = 0; i < 5; i++)
        values[i] = (double)json_integer_value(
            json_object_get(at(r, "first_response", "distribution"), keys[i]));
    bars(out, w->first_response, labels, values, 5, 0, "");
}

static void chart_satisfaction(FILE *out, const struct report_words *w, const json_t *r)
{
    double values[REPORT_DIMENSIONS];
    for (size_t i = 0; i < REPORT_DIMENSIONS; i++)
        values[i] = json_number_value(json_object_get(
            json_object_get(at(r, "satisfaction", "dimensions"), report_dimension_keys[i]),
            "mean"));
    bars(out, w->satisfaction, w->dimensions, values, REPORT_DIMENSIONS, 5, "");
}

static void chart_sla(FILE *out, const struct report_words *w, const json_t *r)
{
    static const char *const priorities[] = {"urgent", "important", "normal"};
    double values[3];
    for (size_t i = 0; i < 3; i++)
        values[i] = json_number_value(
            json_object_get(json_object_get(at(r, "resolution", "by_priority"), priorities[i]),
                            "answered_within_deadline_pct"));
    bars(out, w->by_priority_sla, priorities, values, 3, 100, " %");
}

static void counts_row(FILE *out, const char *label, const json_t *obj)
{
    fputs("<tr><th>", out);
    esc(out, label);
    fputs("</th><td>", out);
    const char *k;
    const json_t *v;
    int first = 1;
    json_object_foreach((json_t *)obj, k, v)
    {
        fputs(first ? "" : ", ", out);
        esc(out, k);
        fprintf(out, " %lld", (long long)json_integer_value(v));
        first = 0;
    }
    fputs("</td></tr>\n", out);
}

void report_write_html(FILE *out, const json_t *r, enum report_lang lang)
{
    const struct report_words *w = report_words(lang);
    fprintf(out, "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>",
            lang == REPORT_ZH ? "zh" : "en");
    esc(out, w->title);
    fputs(" ", out);
    esc(out, json_string_value(json_object_get(r, "period")));
    fputs("</title><style>body{font-family:sans-serif;max-width:60rem;margin:1rem auto;"
          "color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.2rem "
          ".8rem;border-bottom:1px solid #ddd;text-align:left}.kpis{display:flex;gap:1rem;"
          "flex-wrap:wrap}.kpi{border-radius:.4rem;padding:.6rem 1rem;min-width:12rem}"
          ".kpi .v{font-size:1.8rem;font-weight:bold}.met{background:#e3f4e1}.missed{background:"
          "#fbe3e1}.none{background:#eee}.t{font-size:.85rem;color:#555}svg{width:100%;"
          "height:auto}rect{fill:#3b7dd8}text{font-size:11px;fill:#333}figure{margin:1rem 0}"
          "</style></head><body>\n<h1>",
          out);
    esc(out, w->title);
    fputs(" ", out);
    esc(out, json_string_value(json_object_get(r, "period")));
    fputs("</h1>\n<p>", out);
    esc(out, json_string_value(json_object_get(r, "from")));
    fputs(" &ndash; ", out);
    esc(out, json_string_value(json_object_get(r, "to")));
    fputs(" (", out);
    esc(out, json_string_value(json_object_get(r, "timezone")));
    fputs(") &middot; ", out);
    esc(out, w->as_of);
    fputs(" ", out);
    esc(out, json_string_value(json_object_get(r, "as_of")));
    fputs("</p>\n<div class=\"kpis\">\n", out);
    headline(out, w, w->satisfied, at(r, "satisfaction", "satisfied_pct"), 90);
    headline(out, w, w->followups_on_time, at(r, "followups", "on_time_pct"), 95);
    fputs("</div>\n", out);

    fprintf(out, "<h2>%s</h2><table>\n", w->volume);
    row(out, w->tickets, at(r, "volume", "tickets"), "");
    counts_row(out, w->by_channel, at(r, "volume", "by_channel"));
    counts_row(out, w->by_category, at(r, "volume", "by_category"));
    counts_row(out, w->by_priority, at(r, "volume", "by_priority"));
    counts_row(out, w->customer_messages, at(r, "volume", "customer_messages_by_channel"));
    fputs("</table>\n", out);
    chart_per_day(out, w, r);

    fprintf(out, "<h2>%s</h2><table>\n", w->first_response);
    row(out, w->median_minutes, at(r, "first_response", "median_minutes"), " min");
    row(out, w->p90_minutes, at(r, "first_response", "p90_minutes"), " min");
    row(out, w->answered_in_time, at(r, "first_response", "within_deadline_pct"), " %");
    row(out, w->unanswered_late, at(r, "first_response", "unanswered_past_deadline"), "");
    fputs("</table>\n", out);
    chart_first_response(out, w, r);

    fprintf(out, "<h2>%s</h2><table>\n", w->resolution);
    row(out, w->resolved, at(r, "resolution", "resolved"), "");
    row(out, w->resolution_rate, at(r, "resolution", "resolution_rate_pct"), " %");
    row(out, w->median_hours, at(r, "resolution", "median_hours"), " h");
    row(out, w->resolved_in_time, at(r, "resolution", "within_deadline_pct"), " %");
    row(out, w->level_2, at(r, "escalations", "level_2"), "");
    row(out, w->level_3, at(r, "escalations", "level_3"), "");
    fputs("</table>\n", out);
    chart_sla(out, w, r);

    fprintf(out, "<h2>%s</h2><table>\n", w->satisfaction);
    row(out, w->surveys_sent, at(r, "satisfaction", "sent"), "");
    row(out, w->surveys_answered, at(r, "satisfaction", "answered"), "");
    row(out, w->response_rate, at(r, "satisfaction", "response_rate_pct"), " %");
    row(out, w->satisfied, at(r, "satisfaction", "satisfied_pct"), " %");
    fputs("</table>\n", out);
    chart_satisfaction(out, w, r);
    size_t i;
    const json_t *v;
    json_array_foreach(at(r, "satisfaction", "comments"), i, v)
    {
        fputs(i == 0 ? "<ul>" : "", out);
        fputs("<li>", out);
        esc(out, json_string_value(json_object_get(v, "ticket")));
        fprintf(out, " (%lld): ", (long long)json_integer_value(json_object_get(v, "overall")));
        esc(out, json_string_value(json_object_get(v, "comment")));
        fputs("</li>", out);
    }
    fputs(json_array_size(at(r, "satisfaction", "comments")) ? "</ul>\n" : "", out);

    fprintf(out, "<h2>%s</h2><table>\n", w->followups);
    row(out, w->followups_due, at(r, "followups", "due"), "");
    row(out, w->followups_closed, at(r, "followups", "closed"), "");
    row(out, w->followups_on_time, at(r, "followups", "on_time_pct"), " %");
    row(out, w->followups_overdue, at(r, "followups", "open_overdue"), "");
    fputs("</table>\n", out);

    fprintf(out, "<h2>%s</h2><table>\n", w->complaints);
    row(out, w->tickets, at(r, "complaints", "tickets"), "");
    row(out, w->share, at(r, "complaints", "share_pct"), " %");
    row(out, w->resolution_rate, at(r, "complaints", "resolution_rate_pct"), " %");
    row(out, w->callbacks, at(r, "complaints", "callbacks"), "");
    row(out, w->callbacks_in_time, at(r, "complaints", "callbacks_in_time_pct"), " %");
    fputs("</table>\n", out);

    fprintf(out,
            "<h2>%s</h2><table>\n<tr><th></th><th>%s</th><th>%s</th><th>%s</th><th>%s"
            "</th><th>%s</th></tr>\n",
            w->agents, w->assigned, w->answered, w->resolved, w->median_minutes, w->mean_overall);
    json_array_foreach(json_object_get(r, "agents"), i, v)
    {
        fputs("<tr><th>", out);
        esc(out, json_string_value(json_object_get(v, "agent")));
        fputs("</th><td>", out);
        num(out, json_object_get(v, "assigned"), "");
        fputs("</td><td>", out);
        num(out, json_object_get(v, "first_responses"), "");
        fputs("</td><td>", out);
        num(out, json_object_get(v, "resolved"), "");
        fputs("</td><td>", out);
        num(out, json_object_get(v, "median_first_response_minutes"), " min");
        fputs("</td><td>", out);
        num(out, json_object_get(v, "mean_overall"), "");
        fputs("</td></tr>\n", out);
    }
    fprintf(out, "</table>\n<h2>%s</h2><ul>\n", w->definitions_title);
    for (size_t d = 0; w->definitions[d]; d++) {
        fputs("<li>", out);
        esc(out, w->definitions[d]);
        fputs("</li>\n", out);
    }
    fputs("</ul></body></html>\n", out);
}
