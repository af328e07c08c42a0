/*
 * What the phone channel's end-to-end tests (tests/integration/test_phone_*.c)
 * share: a gateway with all three phone routes configured on a database of
 * its own, and an HTTP receiver standing in for the SMS provider. The
 * cmocka group set-up starts one for a file's tests; a test that needs
 * other settings starts its own with phone_env_start.
 */
#ifndef PHONE_ENV_H
#define PHONE_ENV_H

#include "harness.h"
#include "sink.h"

#define PUBLIC_URL   "https://help.example.com"
#define TWILIO_TOKEN "tw-secret-0123"
#define CTI_TOKEN    "cti-secret-token-42"
#define HOOK_SECRET  "wh-secret-abc"
#define SMS_FROM     "+861000000000"

struct phone_env {
    struct harness_db db;
    struct harness_gateway gw;
    PGconn *pg;
    struct sink sms;
};

/* The gateway's config, text messages going to sms_url (a static buffer: copy it to keep it). */
const char *phone_env_config(const char *sms_url);
/* A migrated database named after name and a gateway on it; no SMS receiver. */
void phone_env_start(struct phone_env *env, const char *name, const char *sms_url);
/* Stops the gateway (which must exit 0) and drops the database. */
void phone_env_finish(struct phone_env *env);

/* cmocka group set-up and tear-down: phone_env_start with an SMS receiver answering 201. */
int phone_env_setup(void **state);
int phone_env_teardown(void **state);

/* The webhooks (phone_webhooks.h) with the env's gateway and secrets, signed now. */
long phone_env_twilio(const struct phone_env *env, const char *const *fields);
long phone_env_native(const struct phone_env *env, const char *json, char **body_out);
long phone_env_cti(const struct phone_env *env, const char *form);

/* The number of the ticket a call is on ("" when none), malloc'd. */
char *phone_env_ticket_of_call(PGconn *pg, const char *provider, const char *call_id);
/* Calls, call events and messages stored: what a refused request must not change. */
long phone_env_stored_rows(PGconn *pg);

#endif
