/*
 * A report for a terminal and for a spreadsheet. The text is a summary a
 * supervisor reads top to bottom: headline figures against their targets
 * first, then each part, then the definitions the figures rest on, in
 * Chinese or English. The CSV has one row per ticket with every field a
 * figure is made of, quoted by RFC 4180 and led by a UTF-8 byte order mark,
 * so that spreadsheets open Chinese text right.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_words.h"

/* A number or "-" when the figure has nothing to count (a JSON null). */
static void fig(char *out, size_t cap, const json_t *v, const char *unit)
{
    if (json_is_integer(v))
        snprintf(out, cap, "%lld%s", (long long)json_integer_value(v), unit);
    else if (json_is_number(v))
        snprintf(out, cap, "%.1f%s", json_number_value(v), unit);
    else
        snprintf(out, cap, "-");
}

/* Columns a UTF-8 string takes on a terminal: CJK and full-width characters take two. */
static int columns(const char *s)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp = *p;
        int len = cp < 0x80 ? 1 : cp < 0xE0 ? 2 : cp < 0xF0 ? 3 : 4;
        if (len == 3 && p[1] && p[2])
            cp = ((cp & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        n += (len == 3 && cp >= 0x1100) || len == 4 ? 2 : 1;
        for (int i = 0; i < len && *p; i++)
            p++;
    }
    return n;
}

/* "  label" padded to a column, whatever script the label is in. */
static void label(FILE *out, const char *text)
{
    fprintf(out, "  %s%*s", text, 40 - columns(text) > 0 ? 40 - columns(text) : 1, "");
}

static const json_t *at(const json_t *report, const char *part, const char *key)
{
    return json_object_get(json_object_get(report, part), key);
}

static void line(FILE *out, const char *text, const json_t *v, const char *unit)
{
    char buf[64];
    fig(buf, sizeof(buf), v, unit);
    label(out, text);
    fprintf(out, "%s\n", buf);
}

static int by_count_desc(const void *a, const void *b)
{
    const json_t *x = json_object_get(*(json_t *const *)a, "n");
    const json_t *y = json_object_get(*(json_t *const *)b, "n");
    json_int_t d = json_integer_value(y) - json_integer_value(x);
    return d > 0 ? 1 : d < 0 ? -1 : 0;
}

/* "  label  key n, key n, ..." for a {key: count} object, the largest first. */
static void counts(FILE *out, const char *text, const json_t *obj)
{
    label(out, text);
    size_t n = json_object_size(obj), k = 0;
    json_t **items = calloc(n + 1, sizeof(*items));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (items)
            items[k++] = json_pack("{s:s, s:O}", "key", key, "n", v);
    }
    if (items)
        qsort(items, k, sizeof(*items), by_count_desc);
    for (size_t i = 0; i < k; i++) {
        fprintf(out, "%s%s %lld", i ? ", " : "",
                json_string_value(json_object_get(items[i], "key")),
                (long long)json_integer_value(json_object_get(items[i], "n")));
        json_decref(items[i]);
    }
    fputs(k ? "\n" : "-\n", out);
    free(items);
}

/* A share against its target: "93.1 % (target 90 %, met)". */
static void against(FILE *out, const struct report_words *w, const char *text, const json_t *pct,
                    int target)
{
    char buf[64];
    fig(buf, sizeof(buf), pct, " %");
    const char *verdict = !json_is_number(pct)               ? w->no_data
                          : json_number_value(pct) >= target ? w->met
                                                             : w->missed;
    label(out, text);
    fprintf(out, "%s (%s %d %%, %s)\n", buf, w->target, target, verdict);
}

void report_write_text(FILE *out, const json_t *r, enum report_lang lang)
{
    const struct report_words *w = report_words(lang);
    const char *queue = json_string_value(json_object_get(r, "queue"));
    fprintf(
        out, "%s %s  (%s .. %s, %s%s%s)\n", w->title,
        json_string_value(json_object_get(r, "period")),
        json_string_value(json_object_get(r, "from")), json_string_value(json_object_get(r, "to")),
        json_string_value(json_object_get(r, "timezone")), queue ? ", " : "", queue ? queue : "");
    fprintf(out, "%s %s\n\n", w->as_of, json_string_value(json_object_get(r, "as_of")));

    fprintf(out, "%s\n", w->headline);
    against(out, w, w->satisfied, at(r, "satisfaction", "satisfied_pct"), 90);
    against(out, w, w->followups_on_time, at(r, "followups", "on_time_pct"), 95);
    line(out, w->answered_in_time, at(r, "first_response", "within_deadline_pct"), " %");
    line(out, w->resolution_rate, at(r, "resolution", "resolution_rate_pct"), " %");

    fprintf(out, "\n%s\n", w->volume);
    line(out, w->tickets, at(r, "volume", "tickets"), "");
    counts(out, w->by_channel, at(r, "volume", "by_channel"));
    counts(out, w->by_category, at(r, "volume", "by_category"));
    counts(out, w->by_priority, at(r, "volume", "by_priority"));
    counts(out, w->by_queue, at(r, "volume", "by_queue"));
    counts(out, w->customer_messages, at(r, "volume", "customer_messages_by_channel"));

    fprintf(out, "\n%s\n", w->first_response);
    line(out, w->median_minutes, at(r, "first_response", "median_minutes"), " min");
    line(out, w->p90_minutes, at(r, "first_response", "p90_minutes"), " min");
    if (json_is_true(json_object_get(r, "business_hours"))) {
        line(out, w->business_median_minutes, at(r, "first_response", "business_median_minutes"),
             " min");
        line(out, w->business_p90_minutes, at(r, "first_response", "business_p90_minutes"), " min");
    }
    line(out, w->answered_in_time, at(r, "first_response", "within_deadline_pct"), " %");
    line(out, w->unanswered_late, at(r, "first_response", "unanswered_past_deadline"), "");

    fprintf(out, "\n%s\n", w->resolution);
    line(out, w->resolved, at(r, "resolution", "resolved"), "");
    line(out, w->resolution_rate, at(r, "resolution", "resolution_rate_pct"), " %");
    line(out, w->median_hours, at(r, "resolution", "median_hours"), " h");
    line(out, w->p90_hours, at(r, "resolution", "p90_hours"), " h");
    line(out, w->resolved_in_time, at(r, "resolution", "within_deadline_pct"), " %");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)at(r, "resolution", "by_priority"), k, v)
    {
        char name[96], a[32], b[32];
        fig(a, sizeof(a), json_object_get(v, "resolution_rate_pct"), " %");
        fig(b, sizeof(b), json_object_get(v, "resolved_within_deadline_pct"), " %");
        snprintf(name, sizeof(name), "  %s", k);
        label(out, name);
        fprintf(out, "%lld, %s %s, %s %s\n",
                (long long)json_integer_value(json_object_get(v, "tickets")), w->resolution_rate, a,
                w->resolved_in_time, b);
    }

    fprintf(out, "\n%s\n", w->escalations);
    line(out, w->level_2, at(r, "escalations", "level_2"), "");
    line(out, w->level_3, at(r, "escalations", "level_3"), "");
    counts(out, w->breaches, at(r, "escalations", "breaches_by_clock"));

    fprintf(out, "\n%s\n", w->satisfaction);
    line(out, w->surveys_sent, at(r, "satisfaction", "sent"), "");
    line(out, w->surveys_answered, at(r, "satisfaction", "answered"), "");
    line(out, w->response_rate, at(r, "satisfaction", "response_rate_pct"), " %");
    against(out, w, w->satisfied, at(r, "satisfaction", "satisfied_pct"), 90);
    for (size_t i = 0; i < REPORT_DIMENSIONS; i++) {
        const json_t *d =
            json_object_get(at(r, "satisfaction", "dimensions"), report_dimension_keys[i]);
        char mean[32], dist[96] = "";
        fig(mean, sizeof(mean), json_object_get(d, "mean"), "");
        size_t o = 0;
        for (int g = 1; g <= 5; g++) {
            char key[2] = {(char)('0' + g), 0};
            o += (size_t)snprintf(dist + o, sizeof(dist) - o, "%s%d:%lld", g > 1 ? " " : "", g,
                                  (long long)json_integer_value(
                                      json_object_get(json_object_get(d, "distribution"), key)));
        }
        label(out, w->dimensions[i]);
        fprintf(out, "%s  (%s)\n", mean, dist);
    }
    size_t i;
    json_array_foreach(at(r, "satisfaction", "comments"), i, v)
    {
        fprintf(out, "  %s %s (%lld): %s\n", i == 0 ? w->comments : "  ",
                json_string_value(json_object_get(v, "ticket")),
                (long long)json_integer_value(json_object_get(v, "overall")),
                json_string_value(json_object_get(v, "comment")));
    }

    fprintf(out, "\n%s\n", w->followups);
    line(out, w->followups_due, at(r, "followups", "due"), "");
    line(out, w->followups_closed, at(r, "followups", "closed"), "");
    against(out, w, w->followups_on_time, at(r, "followups", "on_time_pct"), 95);
    line(out, w->followups_overdue, at(r, "followups", "open_overdue"), "");

    fprintf(out, "\n%s\n", w->complaints);
    line(out, w->tickets, at(r, "complaints", "tickets"), "");
    line(out, w->share, at(r, "complaints", "share_pct"), " %");
    line(out, w->resolution_rate, at(r, "complaints", "resolution_rate_pct"), " %");
    line(out, w->median_hours, at(r, "complaints", "median_hours_to_resolve"), " h");
    line(out, w->callbacks, at(r, "complaints", "callbacks"), "");
    line(out, w->callbacks_in_time, at(r, "complaints", "callbacks_in_time_pct"), " %");

    fprintf(out, "\n%s\n", w->agents);
    json_array_foreach(json_object_get(r, "agents"), i, v)
    {
        char fr[32], mean[32];
        fig(fr, sizeof(fr), json_object_get(v, "median_first_response_minutes"), " min");
        fig(mean, sizeof(mean), json_object_get(v, "mean_overall"), "");
        fprintf(out, "  %-24s %s %lld, %s %lld, %s %lld, %s %s, %s %s\n",
                json_string_value(json_object_get(v, "agent")), w->assigned,
                (long long)json_integer_value(json_object_get(v, "assigned")), w->answered,
                (long long)json_integer_value(json_object_get(v, "first_responses")), w->resolved,
                (long long)json_integer_value(json_object_get(v, "resolved")), w->median_minutes,
                fr, w->mean_overall, mean);
    }
    fprintf(out, "\n%s\n", w->definitions_title);
    for (size_t d = 0; w->definitions[d]; d++)
        fprintf(out, "  - %s\n", w->definitions[d]);
}

/* The CSV's columns: intake_report_rows' keys, in this order. */
static const char *const csv_columns[] = {"ticket",
                                          "created",
                                          "channel",
                                          "category",
                                          "priority",
                                          "queue",
                                          "status",
                                          "escalation_level",
                                          "agent",
                                          "first_response_due",
                                          "first_response",
                                          "first_response_minutes",
                                          "first_response_business_minutes",
                                          "answered_within_deadline",
                                          "resolved",
                                          "resolution_hours",
                                          "resolution_business_hours",
                                          "resolved_within_deadline",
                                          "overall_rating",
                                          NULL};

void report_write_csv_header(FILE *out)
{
    fputs("\xEF\xBB\xBF", out);
    for (size_t i = 0; csv_columns[i]; i++)
        fprintf(out, "%s%s", i ? "," : "", csv_columns[i]);
    fputs("\r\n", out);
}

/* A field, quoted when it holds a comma, a quote or a line break; a formula start is defused. */
static void csv_field(FILE *out, const char *s)
{
    bool formula = s[0] && strchr("=+-@", s[0]);
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL;
    if (!quote) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    /* A leading =, +, - or @ would run as a formula in a spreadsheet: a quote mark keeps it text.
     */
    if (formula)
        fputc('\'', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void report_write_csv_row(FILE *out, const json_t *row)
{
    for (size_t i = 0; csv_columns[i]; i++) {
        if (i)
            fputc(',', out);
        const json_t *v = json_object_get(row, csv_columns[i]);
        char buf[64];
        if (json_is_string(v))
            csv_field(out, json_string_value(v));
        else if (json_is_boolean(v))
            fputs(json_is_true(v) ? "yes" : "no", out);
        else if (json_is_number(v)) {
            fig(buf, sizeof(buf), v, "");
            fputs(buf, out);
        }
    }
    fputs("\r\n", out);
}
