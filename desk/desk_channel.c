/*
 * The desk's entry in the adapter table: its routes (REST, survey pages,
 * the console), the agent stream, its commands, its database operations,
 * its settings and the SLA scanner.
 */
#include <gmime/gmime.h>
#include <string.h>

#include "desk.h"
#include "gw_asset.h"

extern const struct gw_asset gw_assets_desk[];
extern const size_t gw_n_assets_desk;

static bool answer_console(const struct gw_http_request *req, struct gw_arena *arena,
                           struct gw_intake_job *job, struct gw_http_reply *reply)
{
    (void)arena;
    (void)job;
    if (!strcmp(req->path, "/agent/console.js"))
        gw_asset_reply(gw_assets_desk, gw_n_assets_desk, "console.js",
                       "text/javascript; charset=utf-8", reply);
    else if (!strcmp(req->path, "/agent/reports.js"))
        gw_asset_reply(gw_assets_desk, gw_n_assets_desk, "reports.js",
                       "text/javascript; charset=utf-8", reply);
    else
        gw_asset_reply(gw_assets_desk, gw_n_assets_desk, "index.html", "text/html; charset=utf-8",
                       reply);
    return false;
}

#define API(m, p, prefix)                                                                          \
    {                                                                                              \
        .method = m, .path = p, .path_prefix = prefix, .auth = GW_AUTH_BEARER,                     \
        .max_body = 128 * 1024, .answer = desk_api_answer, .respond = desk_api_respond             \
    }

static const struct gw_route desk_routes[] = {
    API("GET", "/v1/tickets", false),
    API("GET", "/v1/tickets/", true),
    API("POST", "/v1/tickets/", true),
    API("GET", "/v1/agent/me", false),
    API("POST", "/v1/agent/presence", false),
    API("GET", "/v1/followups", false),
    API("POST", "/v1/followups/", true),
    API("GET", "/v1/search", false),
    {.method = "GET",
     .path = "/v1/reports",
     .auth = GW_AUTH_BEARER,
     .answer = desk_report_answer,
     .respond = desk_report_respond},
    {.method = "GET",
     .path = "/s/",
     .path_prefix = true,
     .answer = desk_survey_answer,
     .respond = desk_survey_respond},
    {.method = "POST",
     .path = "/s/",
     .path_prefix = true,
     .max_body = 16 * 1024,
     .answer = desk_survey_answer,
     .respond = desk_survey_respond},
    /* A person's data and the audit trail (desk_privacy.c). */
    {.method = "GET",
     .path = "/v1/customers/",
     .path_prefix = true,
     .auth = GW_AUTH_BEARER,
     .answer = desk_privacy_answer,
     .respond = desk_privacy_respond},
    {.method = "POST",
     .path = "/v1/customers/",
     .path_prefix = true,
     .auth = GW_AUTH_BEARER,
     .max_body = 4 * 1024,
     .answer = desk_privacy_answer,
     .respond = desk_privacy_respond},
    {.method = "GET",
     .path = "/v1/audit",
     .auth = GW_AUTH_BEARER,
     .answer = desk_privacy_answer,
     .respond = desk_privacy_respond},
    {.method = "GET", .path = "/agent/", .answer = answer_console},
    {.method = "GET", .path = "/agent/console.js", .answer = answer_console},
    {.method = "GET", .path = "/agent/reports.js", .answer = answer_console},
};

/* db/functions/desk.sql, surveys.sql, sla.sql, privacy.sql and retention.sql */
const struct gw_operation desk_operations[DESK_OP__COUNT] = {
    [DESK_OP_DESK] = {"desk", "intake_desk"},
    [DESK_OP_SURVEY_GET] = {"desk_survey_get", "intake_survey_get"},
    [DESK_OP_SURVEY_ANSWER] = {"desk_survey_answer", "intake_survey_answer"},
    [DESK_OP_SLA_SCAN] = {"desk_sla_scan", "intake_sla_scan"},
    [DESK_OP_PRIVACY] = {"desk_privacy", "intake_privacy", .own_lane = true,
                         .finish = desk_privacy_finish},
    [DESK_OP_RETENTION] = {"desk_retention", "intake_retention_run"},
    [DESK_OP_REPORT] = {.name = "desk_report",
                        .function = "intake_desk",
                        .own_lane = true,
                        .finish = desk_report_finish},
    [DESK_OP_REPORT_REFRESH] = {"desk_report_refresh", "intake_report_refresh"},
    [DESK_OP_REPORT_MAIL_DUE] = {"desk_report_mail_due", "intake_report_mail_due"},
    [DESK_OP_REPORT_MAIL_QUEUE] = {"desk_report_mail_queue", "intake_report_mail_queue"},
    /* GETs (desk_api.c): they write nothing but a view's audit row, which may wait for no disk. */
    [DESK_OP_DESK_READ] = {.name = "desk_read", .function = "intake_desk_read", .read_lane = true},
};

static const struct gw_command desk_commands[] = {
    {"agent", "add, list, disable agents and issue their tokens", desk_agent_command},
    {"sla-scan", "escalate breached SLA clocks once (--at TIME: as of then)",
     desk_sla_scan_command},
    {"report", "a period's service report (--month YYYY-MM, --format text|json|csv|html)",
     desk_report_command},
    {"customer", "export or erase a person's data (export|erase NUMBER|EMAIL|PHONE)",
     desk_customer_command},
};

/* The mailed report is a MIME message (report_mail.c); GMime counts its inits. */
static enum gw_err desk_init(void)
{
    g_mime_init();
    return GW_OK;
}

const struct gw_channel gw_channel_desk = {
    .name = DESK_NAME,
    .routes = desk_routes,
    .n_routes = sizeof(desk_routes) / sizeof(desk_routes[0]),
    .socket_routes = &desk_stream_route,
    .n_socket_routes = 1,
    .commands = desk_commands,
    .n_commands = sizeof(desk_commands) / sizeof(desk_commands[0]),
    .operations = desk_operations,
    .n_operations = DESK_OP__COUNT,
    .settings_paths = desk_settings_paths,
    .load_settings = desk_settings_load,
    .free_settings = desk_settings_free,
    .init = desk_init,
    .poll = desk_poll,
    .tend = desk_search_tend,
    .notice_kinds = desk_notice_kinds,
    .render_notice = desk_render_notice,
};
