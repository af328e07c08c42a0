/*
 * The report by mail, on the poller: once the schedule says the previous
 * period's report is due (reports.schedule, in reports.timezone), each of
 * reports.recipients gets one message, the HTML report with the period's
 * CSV attached, queued in the outbox (kind "mail") and sent from there with
 * its retries. Exactly once per period and recipient however many gateways
 * run: the queueing inserts report_mailings(period, recipient) and the
 * outbox row in one transaction, and a row already there queues nothing
 * (db/functions/report_serve.sql). One gateway does the work at a time (an
 * advisory lock), so the others do not render the same report for nothing.
 */
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_log.h"
#include "gw_poll.h"
#include "report_words.h"

#define MAIL_LOCK "intake-report-mail"

/* What a renderer writes to a FILE, in a malloc'd buffer (NULL when out of memory). */
struct rendered {
    char *text;
    size_t len;
};

static bool render(struct rendered *r, const json_t *report, const json_t *rows,
                   enum report_lang lang)
{
    FILE *out = open_memstream(&r->text, &r->len);
    if (!out)
        return false;
    if (rows) {
        report_write_csv_header(out);
        size_t i;
        const json_t *row;
        json_array_foreach(rows, i, row) report_write_csv_row(out, row);
    } else {
        report_write_html(out, report, lang);
    }
    return fclose(out) == 0;
}

static GMimeObject *csv_attachment(const struct rendered *csv, const char *filename)
{
    GMimePart *part = g_mime_part_new_with_type("text", "csv");
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
    g_mime_object_set_disposition(GMIME_OBJECT(part), GMIME_DISPOSITION_ATTACHMENT);
    g_mime_part_set_filename(part, filename);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(csv->text, csv->len);
    GMimeDataWrapper *content =
        g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(part, content);
    g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
    g_object_unref(content);
    g_object_unref(stream);
    return GMIME_OBJECT(part);
}

/* The whole message, CRLF line ends (g_free it). */
static char *compose(const char *from, const char *to, const char *subject,
                     const struct rendered *html, const struct rendered *csv, const char *filename)
{
    GMimeMessage *m = g_mime_message_new(TRUE);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, NULL, from);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, to);
    g_mime_message_set_subject(m, subject, "utf-8");
    const char *at = strchr(from, '@');
    char *mid = g_mime_utils_generate_message_id(at ? at + 1 : "intake.invalid");
    g_mime_message_set_message_id(m, mid);
    g_free(mid);
    GDateTime *now = g_date_time_new_now_utc();
    g_mime_message_set_date(m, now);
    g_date_time_unref(now);
    /* RFC 3834: a robot's mail, which well-behaved robots do not answer. */
    g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted", "auto-generated", NULL);

    GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
    GMimeTextPart *page = g_mime_text_part_new_with_subtype("html");
    g_mime_text_part_set_charset(page, "utf-8");
    g_mime_text_part_set_text(page, html->text);
    g_mime_part_set_content_encoding(GMIME_PART(page), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    GMimeObject *attachment = csv_attachment(csv, filename);
    g_mime_multipart_add(mixed, GMIME_OBJECT(page));
    g_mime_multipart_add(mixed, attachment);
    g_object_unref(page);
    g_object_unref(attachment);
    g_mime_message_set_mime_part(m, GMIME_OBJECT(mixed));
    g_object_unref(mixed);

    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    char *wire = g_mime_object_to_string(GMIME_OBJECT(m), fo);
    g_mime_format_options_free(fo);
    g_object_unref(m);
    return wire;
}

/* Queues one recipient's message; true when it was this gateway that queued it. */
static bool queue_one(struct gw_poll_ctx *ctx, const char *period, const char *from, const char *to,
                      const char *message)
{
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "period", period, "from", from, "to", to,
                            "message", message);
    json_t *answer = NULL;
    if (!doc ||
        gw_poll_run(ctx, &desk_operations[DESK_OP_REPORT_MAIL_QUEUE], doc, &answer) != GW_OK)
        return false;
    bool queued = json_is_true(json_object_get(answer, "queued"));
    json_decref(answer);
    return queued;
}

/* Renders the due report and queues it to everyone who has not had it. */
static void send_due(struct gw_poll_ctx *ctx, const struct report_settings *rs, const json_t *due)
{
    const json_t *report = json_object_get(due, "report");
    const char *period = json_string_value(json_object_get(json_object_get(due, "due"), "period"));
    struct rendered html = {0}, csv = {0};
    if (!period || !render(&html, report, NULL, rs->lang) ||
        !render(&csv, report, json_object_get(due, "rows"), rs->lang)) {
        gw_error("reports: cannot render the report of %s for mail", period ? period : "?");
        free(html.text);
        free(csv.text);
        return;
    }
    char subject[160], filename[64];
    snprintf(subject, sizeof(subject), "%s %s", report_words(rs->lang)->title, period);
    snprintf(filename, sizeof(filename), "report-%s.csv", period);
    size_t i, queued = 0;
    const json_t *to;
    json_array_foreach(json_object_get(due, "recipients"), i, to)
    {
        char *message = compose(rs->from, json_string_value(to), subject, &html, &csv, filename);
        if (message && queue_one(ctx, period, rs->from, json_string_value(to), message))
            queued++;
        g_free(message);
    }
    /* Recipients are staff addresses from the configuration, but still not logged. */
    if (queued)
        gw_info("reports: the report of %s queued by mail to %zu recipient%s", period, queued,
                queued == 1 ? "" : "s");
    free(html.text);
    free(csv.text);
}

void report_mail_poll(struct gw_poll_ctx *ctx, const struct report_settings *rs)
{
    if (!rs->n_recipients || !rs->from || gw_poll_stopping(ctx) ||
        !gw_poll_try_lock(ctx, MAIL_LOCK))
        return;
    const struct gw_config *cfg = gw_poll_config(ctx);
    json_t *doc = desk_document(cfg, "report_mail");
    json_t *recipients = json_array();
    for (size_t i = 0; i < rs->n_recipients; i++)
        json_array_append_new(recipients, json_string(rs->recipients[i]));
    json_object_set_new(doc, "recipients", recipients);
    json_object_set_new(doc, "every", json_string(rs->every == REPORT_WEEKLY ? "week" : "month"));
    json_object_set_new(doc, "day", json_integer(rs->day));
    json_object_set_new(doc, "cache_s", json_integer(rs->cache_s));
    json_object_set_new(doc, "timezone",
                        json_string(report_timezone(rs, json_object_get(doc, "calendar"))));
    json_t *due = NULL;
    if (gw_poll_run(ctx, &desk_operations[DESK_OP_REPORT_MAIL_DUE], doc, &due) == GW_OK &&
        json_is_object(json_object_get(due, "due")))
        send_due(ctx, rs, due);
    json_decref(due);
    gw_poll_unlock(ctx, MAIL_LOCK);
}
