/*
 * What the desk's end-to-end tests (tests/integration/test_desk_*.c) share:
 * a gateway on a database of its own with a real SMTP server for mail and
 * an HTTP receiver standing in for the SMS provider; agents made with the
 * CLI, their REST calls and streams; contacts by the API and by a missed
 * call. Each test starts its own (desk_env_start) and stops it.
 */
#ifndef DESK_ENV_H
#define DESK_ENV_H

#include <stddef.h>

#include "harness.h"
#include "sink.h"
#include "ws_client.h"

#define DESK_PROTOCOL  "intake-agent.v1"
#define DESK_CTI_TOKEN "cti-token-0123456789"
#define DESK_WAIT_MS   8000

struct desk_env {
    struct harness_db db;
    struct harness_gateway gw;
    struct harness_smtp smtp;
    struct sink sms;
    PGconn *pg;
};

/* extra: more top-level settings ("\"key\":{...}") or NULL. */
void desk_env_start(struct desk_env *f, const char *name, const char *extra);
/* Stops the gateway if it still runs (it must exit 0), then everything else. */
void desk_env_stop(struct desk_env *f);

/* Runs `intake <args>` against the env's database; returns its exit status, stdout in out. */
int desk_env_cli(const struct desk_env *f, char *out, size_t cap, const char *const *args);
/* Adds an agent with the CLI and issues them a token (into token). */
void desk_env_add_agent(const struct desk_env *f, const char *name, const char *email,
                        const char *role, const char *queues, const char *capacity, char *token,
                        size_t cap);

/* A REST call with an agent's token (NULL: none) and a JSON body (or NULL). */
struct harness_response desk_env_call(const struct desk_env *f, const char *token,
                                      const char *method, const char *path, const char *body);
/* The same, keeping only the status. */
long desk_env_status(const struct desk_env *f, const char *token, const char *method,
                     const char *path, const char *body);

/* A contact through the API channel; returns its ticket number (malloc'd). */
char *desk_env_contact(const struct desk_env *f, const char *id, const char *email,
                       const char *text);
/*
 * A missed call from a Chinese mobile number through the CTI webhook; waits
 * for its SMS acknowledgement and returns the callback ticket (malloc'd).
 */
char *desk_env_missed_call(struct desk_env *f, const char *mobile, const char *call_id);
/* The i-th text message the SMS receiver got, form-decoded (curl_free it). */
char *desk_env_sms_text(struct desk_env *f, int i);
/* The i-th mail with quoted-printable soft line breaks joined (links get them), malloc'd. */
char *desk_env_mail_text(struct harness_smtp *smtp, int i);

/* Opens the agent's stream on the gateway at port; returns the client after the welcome. */
struct ws_client *desk_env_stream_at(int port, const char *token, long after, const char *presence);
/* The same on the env's gateway. */
struct ws_client *desk_env_stream(const struct desk_env *f, const char *token, long after,
                                  const char *presence);
/* The next event of a type on the stream must name the ticket. */
void desk_env_expect_event(struct ws_client *c, const char *type, const char *ticket);

#endif
