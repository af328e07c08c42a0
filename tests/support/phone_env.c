/*
 * The phone tests' gateway (phone_env.h). Quick outbox settings (a 100 ms
 * poll, a 1 s back-off) so an acknowledgement that failed once is retried
 * within a test's patience.
 */
#include "phone_env.h"

#include "phone_webhooks.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

const char *phone_env_config(const char *sms_url)
{
    static char json[1024];
    snprintf(json, sizeof(json),
             "{\"public_url\":\"" PUBLIC_URL "/\","
             "\"outbox\":{\"backoff_seconds\":1,\"poll_ms\":100,\"max_attempts\":30},"
             "\"channels\":{\"phone\":{\"default_country_code\":\"86\","
             "\"twilio_auth_token\":\"" TWILIO_TOKEN "\",\"cti_token\":\"" CTI_TOKEN "\","
             "\"webhook_secret\":\"" HOOK_SECRET "\",\"callback_within_minutes\":45,"
             "\"sms\":{\"url\":\"%s\",\"from\":\"" SMS_FROM "\",\"account\":\"AC42\","
             "\"token\":\"sms-token\"}}}}",
             sms_url);
    return json;
}

void phone_env_start(struct phone_env *env, const char *name, const char *sms_url)
{
    harness_db_create(&env->db, name);
    assert_int_equal(harness_migrate(env->db.url, NULL, 0), 0);
    harness_gateway_start_config(&env->gw, env->db.url, phone_env_config(sms_url), NULL);
    env->pg = harness_pg(env->db.url);
}

void phone_env_finish(struct phone_env *env)
{
    PQfinish(env->pg);
    assert_int_equal(harness_gateway_stop(&env->gw), 0);
    harness_db_drop(&env->db);
}

int phone_env_setup(void **state)
{
    static struct phone_env env;
    const int statuses[] = {201};
    sink_start(&env.sms, statuses, 1);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/2010-04-01/Accounts/AC42/Messages.json",
             env.sms.port);
    phone_env_start(&env, "phone", url);
    *state = &env;
    return 0;
}

int phone_env_teardown(void **state)
{
    struct phone_env *env = *state;
    phone_env_finish(env);
    sink_stop(&env->sms);
    return 0;
}

long phone_env_twilio(const struct phone_env *env, const char *const *fields)
{
    return webhook_twilio(&env->gw, PUBLIC_URL, TWILIO_TOKEN, NULL, fields, NULL);
}

long phone_env_native(const struct phone_env *env, const char *json, char **body_out)
{
    return webhook_native(&env->gw, HOOK_SECRET, (long)time(NULL), json, body_out);
}

long phone_env_cti(const struct phone_env *env, const char *form)
{
    return webhook_cti(&env->gw, CTI_TOKEN, form);
}

char *phone_env_ticket_of_call(PGconn *pg, const char *provider, const char *call_id)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT t.number FROM calls c JOIN tickets t ON t.id = c.ticket_id "
             "WHERE c.provider = '%s' AND c.call_id = '%s'), '')",
             provider, call_id);
    return harness_pg_text(pg, sql);
}

long phone_env_stored_rows(PGconn *pg)
{
    return harness_pg_long(pg, "SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM "
                               "call_events) + (SELECT count(*) FROM messages)");
}
