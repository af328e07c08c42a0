/*
 * The agents' desk: everything on the other side of the tickets. Agents and
 * tools use the REST API (/v1/tickets..., agent or API token), agents hold a
 * stream socket (/v1/agent/stream) that pushes what happens to their work,
 * the console page (/agent/) is a client of both, customers answer surveys
 * at /s/{token}, the SLA scanner runs on the poller, and `intake agent` and
 * `intake sla-scan` are its commands. It registers no contacts: it plugs
 * into the core through the adapter table like a channel, and its database
 * side is db/functions/desk.sql.
 */
#ifndef DESK_H
#define DESK_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "gw_channel.h"
#include "gw_socket.h"
#include "report.h"

#define DESK_NAME            "desk"
#define DESK_STREAM_PATH     "/v1/agent/stream"
#define DESK_STREAM_PROTOCOL "intake-agent.v1"
/* Close code: the hello's token is not an agent's (or the agent was disabled). */
#define DESK_CLOSE_UNAUTHORIZED 4001

/* desk_settings.c: the desk's settings (its adapter table's settings hooks). */
struct desk_settings {
    int scan_s;           /* escalation.scan_seconds: breached clocks are escalated this often */
    int survey_delay_s;   /* surveys: sent this long after resolution, */
    int survey_expires_s; /* answerable this long, */
    const char *followup_queue; /* and low ratings' follow-ups go here (the supervisors') */
    /*
     * agents.stream_lease_seconds: an agent's open stream is renewed in the
     * database every third of this; a stream not renewed for this long is
     * taken for closed (its gateway is gone), and its agent offline when it
     * was their last.
     */
    int stream_lease_s;
    /*
     * retention: personal data of tickets finished longer ago than this many
     * days is erased, raw mail and attachments' bytes older than that
     * dropped (0: kept; db/functions/retention.sql says how).
     */
    int personal_data_days;
    int raw_mail_days;
    struct report_settings reports; /* "reports" (report.h) */
};
extern const char *const desk_settings_paths[];
void *desk_settings_load(const json_t *root, const struct gw_config *cfg, struct gw_problems *pr);
void desk_settings_free(void *settings);
/* The configuration's desk settings (the defaults for a configuration not loaded from a file). */
const struct desk_settings *desk_settings(const struct gw_config *cfg);

/* desk_document.c: the operation document every desk request starts from. */

/*
 * {"action": action} plus what the database needs from the configuration
 * for it (escalation times, the calendar, survey timing).
 */
json_t *desk_document(const struct gw_config *cfg, const char *action);
/*
 * Who calls: the API token (constant-time compare) adds "api": true, any
 * other bearer token its hash as "token_hash"; false when no bearer token
 * was given.
 */
bool desk_add_caller(json_t *doc, const char *token, const struct gw_config *cfg);
/* The desk's database operations (desk_channel.c). */
enum desk_operation {
    DESK_OP_DESK,              /* an agent's or a tool's action (intake_desk) */
    DESK_OP_SURVEY_GET,        /* the survey behind a link */
    DESK_OP_SURVEY_ANSWER,     /* a customer's answer to it */
    DESK_OP_SLA_SCAN,          /* escalate breached clocks */
    DESK_OP_PRIVACY,           /* a supervisor's export, erase or audit page (its own lane) */
    DESK_OP_RETENTION,         /* one batch of retention (the poller) */
    DESK_OP_REPORT,            /* a period's report (GET /v1/reports), on the intake's own lane */
    DESK_OP_REPORT_REFRESH,    /* the poller keeps reports people read fresh */
    DESK_OP_REPORT_MAIL_DUE,   /* the report the schedule says is due by mail, if any */
    DESK_OP_REPORT_MAIL_QUEUE, /* one recipient's mail of it, exactly once */
    DESK_OP_DESK_READ,         /* an agent's GET (intake_desk), on the intake's read lane */
    DESK_OP__COUNT
};
extern const struct gw_operation desk_operations[DESK_OP__COUNT];

/* Makes the job the operation op with doc (stolen) as input; false when out of memory. */
bool desk_submit_document(struct gw_intake_job *job, struct gw_arena *arena, enum desk_operation op,
                          json_t *doc);

/* desk_api.c: the REST routes. */
/* Whether s (n bytes) can be a ticket number ("SR-000123": letters, digits, '-', '_'). */
bool desk_is_ticket_number(const char *s, size_t n);
bool desk_api_answer(const struct gw_http_request *req, struct gw_arena *arena,
                     struct gw_intake_job *job, struct gw_http_reply *reply);
void desk_api_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                      struct gw_http_reply *reply);
/* The JSON object of a POST body ({} when empty); NULL after writing a refusal. */
json_t *desk_api_body(const struct gw_http_request *req, struct gw_arena *arena,
                      struct gw_http_reply *reply);

/* desk_privacy.c: /v1/customers/{number}/export|erase and /v1/audit (supervisors). */
bool desk_privacy_answer(const struct gw_http_request *req, struct gw_arena *arena,
                         struct gw_intake_job *job, struct gw_http_reply *reply);
void desk_privacy_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                          struct gw_http_reply *reply);
/* DESK_OP_PRIVACY's finish hook (gw_operation.finish): an export's zip, on the worker. */
void desk_privacy_finish(struct gw_intake_result *r, struct gw_arena *arena);
/* customer_zip.c: a customer's export as a zip (the command line's and the API's). */
struct zip;
/* Adds a copy of n bytes as name; false on failure. */
bool desk_zip_add(struct zip *z, const char *name, const void *data, size_t n);
/* Adds one file of intake_customer_files() ({"name", "data": base64}); false on failure. */
bool desk_zip_add_file(struct zip *z, const json_t *file);

/* report_api.c: GET /v1/reports (finish renders the reply on the operation's lane). */
bool desk_report_answer(const struct gw_http_request *req, struct gw_arena *arena,
                        struct gw_intake_job *job, struct gw_http_reply *reply);
void desk_report_finish(struct gw_intake_result *r, struct gw_arena *arena);
void desk_report_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                         struct gw_http_reply *reply);

/*
 * report_list.c: the ticket list's filters that a report's figures link to
 * (NULL-ended names); desk_report_filter puts one into doc: 1 done, 0 a bad
 * value, -1 not one of them.
 */
extern const char *const desk_report_filter_names[];
int desk_report_filter(const char *key, const char *value, json_t *doc);

/* desk_search.c: GET /v1/search's query (q, limit, after) into doc; false after a refusal. */
bool desk_search_request(const char *query, json_t *doc, const struct gw_config *cfg,
                         struct gw_arena *arena, struct gw_http_reply *reply);
/* Indexes up to max messages registered since for search; how many (gw_channel.tend). */
int desk_search_tend(PGconn *conn, const struct gw_config *cfg, int max);

/* desk_survey.c: the customer's survey page. */
bool desk_survey_answer(const struct gw_http_request *req, struct gw_arena *arena,
                        struct gw_intake_job *job, struct gw_http_reply *reply);
void desk_survey_respond(const struct gw_intake_result *r, struct gw_arena *arena,
                         struct gw_http_reply *reply);

/* desk_notice.c: the outbox kinds that are the desk's notices (surveys), and their words. */
extern const char *const desk_notice_kinds[];
enum gw_err desk_render_notice(json_t *payload, const struct gw_config *cfg, struct gw_arena *arena,
                               json_t **event);

/* desk_stream.c */
extern const struct gw_socket_route desk_stream_route;

/* desk_cli.c: `intake agent ...` and `intake sla-scan` (exit statuses as sysexits). */
int desk_agent_command(int argc, char **argv, const struct gw_config *cfg);
int desk_sla_scan_command(int argc, char **argv, const struct gw_config *cfg);
/*
 * desk_cli.c: one call of the database's functions for a command-line tool,
 * with up to two text parameters (NULL: fewer). Its one row, or NULL with
 * the reason printed after "command: " and *rc the exit status: 69 the
 * database is gone, 64 a value it could not read (SQLSTATE class 22), else
 * 65.
 */
PGresult *desk_call(PGconn *conn, const char *command, const char *sql, const char *a,
                    const char *b, int *rc);
/* desk_cli.c: who runs a command, for the audit trail: "cli:LOGIN" in buf. */
const char *desk_cli_actor(char *buf, size_t cap);
/* customer_cli.c: `intake customer export|erase`. */
int desk_customer_command(int argc, char **argv, const struct gw_config *cfg);
/* report_cli.c: `intake report` (report.h renders it). */
int desk_report_command(int argc, char **argv, const struct gw_config *cfg);

/* desk_sla.c: the poller hook (SLA scan, stale streams); returns the seconds to the next turn. */
struct gw_poll_ctx;
int desk_poll(struct gw_poll_ctx *ctx);
/* desk_retention.c: the poller's retention turn, when retention is on. */
void desk_retention_turn(struct gw_poll_ctx *ctx);

#endif
