/*
 * The outbox notices a receiver that is back (issue 22). Messages queued
 * while their receiver was away used to wait out each row's own doubling
 * back-off after it returned: up to 255-335 s after a 5-minute SMTP or SMS
 * outage in the fault suite. Now a receiver that cannot be reached is
 * probed with one waiting row every outbox.probe_seconds, and the first
 * delivery that reaches it makes its other waiting rows due at once. Real
 * receivers on loopback: aiosmtpd for mail, an HTTP receiver standing in
 * for the SMS provider. The rows here back off a minute after their first
 * failure, so a test that waited for the back-off would take a minute:
 * every bound below is far under it. And the guarantees stay: each message
 * goes out once, a receiver that stays away still exhausts its rows'
 * attempts (probes are extra tries at a capped rate, not attempts), and a
 * receiver that answered "no" is not asked again sooner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "phone_env.h"
#include "phone_webhooks.h"
#include "sink.h"

#define ROWS 4

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls until the SQL yields expect or seconds pass; returns the last value. */
static long wait_for(PGconn *pg, const char *sql, long expect, double seconds)
{
    double until = now_s() + seconds;
    long v = harness_pg_long(pg, sql);
    while (v != expect && now_s() < until) {
        usleep(100 * 1000);
        v = harness_pg_long(pg, sql);
    }
    return v;
}

static void start(struct harness_env *env, const char *name, const char *config)
{
    harness_db_create(&env->db, name);
    assert_int_equal(harness_migrate(env->db.url, NULL, 0), 0);
    harness_gateway_start_config(&env->gw, env->db.url, config, NULL);
    env->pg = harness_pg(env->db.url);
}

static void finish(struct harness_env *env)
{
    PQfinish(env->pg);
    assert_int_equal(harness_gateway_stop(&env->gw), 0);
    harness_db_drop(&env->db);
}

static void post_mail(struct harness_env *env, const char *from, int i)
{
    char raw[512], url[128];
    snprintf(raw, sizeof(raw),
             "From: %s\r\nTo: help@desk.example\r\nSubject: order %d\r\n"
             "Message-ID: <receiver-%d@example.com>\r\n\r\nWhere is my order %d?\r\n",
             from, i, i, i);
    snprintf(url, sizeof(url), "%s/v1/email/inbound", env->gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", raw, strlen(raw), &r);
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
}

static const char *mail_config(int smtp_port)
{
    static char cfg[512];
    snprintf(cfg, sizeof(cfg),
             "{\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"no\"},"
             "\"outbox\":{\"backoff_seconds\":60,\"poll_ms\":100},"
             "\"channels\":{\"email\":{\"from_address\":\"help@desk.example\"}}}",
             smtp_port);
    return cfg;
}

/*
 * The SMTP server is away when four acknowledgements are first tried; they
 * wait a minute for their next attempt. It comes back: the next probe (at
 * most outbox.probe_seconds, 5 by default, after the failures) reaches it
 * and the other three follow at once, each mail received once.
 */
static void test_mail_goes_out_soon_after_the_smtp_server_returns(void **state)
{
    (void)state;
    struct harness_env env;
    int port = harness_free_port();
    start(&env, "receiver_smtp", mail_config(port));
    char from[64];
    for (int i = 0; i < ROWS; i++) {
        snprintf(from, sizeof(from), "customer%d@example.com", i);
        post_mail(&env, from, i);
    }
    assert_int_equal(wait_for(env.pg,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = "
                              "'pending' AND attempts = 1 AND last_error IS NOT NULL",
                              ROWS, 15),
                     ROWS);
    /* Backed off a minute, each waiting under the server's name. */
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND "
                                             "next_attempt_at > now() + interval '50 s' AND "
                                             "receiver LIKE 'smtp://127.0.0.1:%'"),
                     ROWS);

    struct harness_smtp smtp;
    harness_smtp_start(&smtp, port);
    double back = now_s();
    assert_int_equal(wait_for(env.pg,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND "
                              "status = 'sent'",
                              ROWS, 20),
                     ROWS);
    double took = now_s() - back;
    print_message("the mail went out %.1f s after the server returned\n", took);
    if (took >= 20)
        fail_msg("the mail went out %.1f s after the server returned", took);
    /* Each once; the receiver is no longer away. */
    assert_int_equal(harness_smtp_wait(&smtp, ROWS + 1, 1500), ROWS);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM outbox_receivers"), 0);
    harness_smtp_stop(&smtp);
    finish(&env);
}

static const char *sms_config(int sms_port, const char *outbox)
{
    static char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "{\"public_url\":\"" PUBLIC_URL "/\",\"outbox\":%s,"
             "\"channels\":{\"phone\":{\"default_country_code\":\"86\","
             "\"twilio_auth_token\":\"" TWILIO_TOKEN "\",\"callback_within_minutes\":45,"
             "\"sms\":{\"url\":\"http://127.0.0.1:%d/Messages.json\",\"from\":\"" SMS_FROM "\","
             "\"account\":\"AC42\",\"token\":\"sms-token\"}}}}",
             outbox, sms_port);
    return cfg;
}

/* A missed call from a number of its own: a callback ticket and a text message to it. */
static void missed_call(struct harness_env *env, int i)
{
    char sid[32], from[32];
    snprintf(sid, sizeof(sid), "CallSid=CARCV%d", i);
    snprintf(from, sizeof(from), "From=+86138000000%02d", i);
    const char *fields[] = {sid,  "CallStatus=no-answer", "Direction=inbound",
                            from, "To=+861012345678",     NULL};
    assert_int_equal(webhook_twilio(&env->gw, PUBLIC_URL, TWILIO_TOKEN, NULL, fields, NULL), 200);
}

/* The Idempotency-Key of the i-th request the sink received (malloc'd). */
static char *idempotency_key(struct sink *s, int i)
{
    pthread_mutex_lock(&s->lock);
    const char *h = s->headers[i] ? strcasestr(s->headers[i], "Idempotency-Key: ") : NULL;
    char *key = h ? strndup(h + 17, strcspn(h + 17, "\r\n")) : NULL;
    pthread_mutex_unlock(&s->lock);
    assert_non_null(key);
    return key;
}

/*
 * The SMS provider is away for four text messages; with probes switched off
 * (an hour apart), the text of a fifth call, sent once the provider is back,
 * is what finds it there: the four waiting follow at once, not a minute
 * later. The provider gets each text once (one Idempotency-Key each).
 */
static void test_a_delivery_that_reaches_the_provider_wakes_the_waiting_texts(void **state)
{
    (void)state;
    struct harness_env env;
    int port = harness_free_port();
    start(&env, "receiver_sms",
          sms_config(port, "{\"backoff_seconds\":60,\"poll_ms\":100,\"probe_seconds\":3600}"));
    for (int i = 0; i < ROWS; i++)
        missed_call(&env, i);
    char named[256];
    snprintf(named, sizeof(named),
             "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = 'pending' AND "
             "attempts = 1 AND receiver = 'http://127.0.0.1:%d'",
             port);
    assert_int_equal(wait_for(env.pg, named, ROWS, 15), ROWS);
    struct sink sms;
    sink_start_on(&sms, port, NULL, 0);
    sleep(2); /* back, and nobody has noticed: no probe for an hour */
    assert_int_equal(sms.count, 0);
    double back = now_s();
    missed_call(&env, ROWS);
    assert_int_equal(wait_for(env.pg,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND "
                              "status = 'sent'",
                              ROWS + 1, 20),
                     ROWS + 1);
    double took = now_s() - back;
    print_message("the texts went out %.1f s after the fifth call\n", took);
    if (took >= 10)
        fail_msg("the waiting texts went out %.1f s after the provider was reached", took);
    assert_int_equal(sink_wait(&sms, ROWS + 2, 1500), ROWS + 1);
    char *keys[ROWS + 1];
    for (int i = 0; i <= ROWS; i++) {
        keys[i] = idempotency_key(&sms, i);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(keys[i], keys[j]);
    }
    for (int i = 0; i <= ROWS; i++)
        free(keys[i]);
    finish(&env);
    sink_stop(&sms);
}

/*
 * A provider that keeps answering 503: probes (every second here) come
 * between the row's own attempts, but they are not attempts; the row still
 * fails for good after outbox.max_attempts (3: at about 0, 2 and 6 s), the
 * provider hears nothing more after that, and it is forgotten as away.
 */
static void test_a_receiver_that_stays_away_still_exhausts_the_attempts(void **state)
{
    (void)state;
    struct sink sms;
    int statuses[SINK_MAX];
    for (int i = 0; i < SINK_MAX; i++)
        statuses[i] = 503;
    sink_start(&sms, statuses, SINK_MAX);
    struct harness_env env;
    start(&env, "receiver_away",
          sms_config(sms.port, "{\"backoff_seconds\":2,\"poll_ms\":100,\"probe_seconds\":1,"
                               "\"max_attempts\":3}"));
    double begun = now_s();
    missed_call(&env, 0);
    assert_int_equal(wait_for(env.pg,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND "
                              "status = 'failed' AND attempts = 3",
                              1, 20),
                     1);
    double took = now_s() - begun;
    int tries = sink_wait(&sms, 0, 0);
    print_message("%d requests in %.1f s until the row failed for good\n", tries, took);
    /* Three attempts and a probe a second at most between them; at least one probe. */
    if (tries <= 3 || tries > 3 + (int)took + 1)
        fail_msg("%d requests in %.1f s", tries, took);
    assert_true(tries < SINK_MAX);
    assert_int_equal(sink_wait(&sms, tries + 1, 2500), tries);
    assert_int_equal(wait_for(env.pg, "SELECT count(*) FROM outbox_receivers", 0, 5), 0);
    finish(&env);
    sink_stop(&sms);
}

/*
 * A server that answers "550 no such mailbox" for one recipient is there:
 * that row keeps its minute of back-off (it waits under no receiver's name),
 * the mail to another recipient goes out, and nothing hurries the refused
 * row.
 */
static void test_a_refusal_is_not_hurried_by_a_delivery_that_succeeds(void **state)
{
    (void)state;
    struct harness_smtp smtp;
    smtp.port = harness_free_port();
    snprintf(smtp.dir, sizeof(smtp.dir), "/tmp/intake-smtp-receivers-%d-%d", (int)getpid(),
             smtp.port);
    char port[16], script[256];
    snprintf(port, sizeof(port), "%d", smtp.port);
    snprintf(script, sizeof(script), "%s/tests/support/smtp_refusing_server.py", INTAKE_SOURCE_DIR);
    char *argv[] = {(char *)"/usr/bin/python3", script, port, smtp.dir, NULL};
    smtp.pid = harness_spawn(argv, "/dev/null");
    harness_wait_for_port(smtp.port, "the refusing SMTP server");
    struct harness_env env;
    start(&env, "receiver_refusal", mail_config(smtp.port));

    post_mail(&env, "refused.ann.lee@example.com", 1);
    assert_int_equal(wait_for(env.pg,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND "
                              "status = 'pending' AND attempts = 1",
                              1, 15),
                     1);
    post_mail(&env, "glad@example.com", 2);
    assert_int_equal(wait_for(env.pg,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'",
                              1, 15),
                     1);
    sleep(2);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND "
                                             "status = 'pending' AND attempts = 1 AND "
                                             "receiver IS NULL AND "
                                             "next_attempt_at > now() + interval '40 s'"),
                     1);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM outbox_receivers"), 0);
    assert_int_equal(harness_smtp_wait(&smtp, 2, 0), 1);
    finish(&env);
    harness_smtp_stop(&smtp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail_goes_out_soon_after_the_smtp_server_returns),
        cmocka_unit_test(test_a_delivery_that_reaches_the_provider_wakes_the_waiting_texts),
        cmocka_unit_test(test_a_receiver_that_stays_away_still_exhausts_the_attempts),
        cmocka_unit_test(test_a_refusal_is_not_hurried_by_a_delivery_that_succeeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
