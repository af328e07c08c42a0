/*
 * Acknowledgements through an SMTP server that requires STARTTLS and AUTH:
 * delivered with the right CA and credentials; kept for retry, with the
 * reason, when the password is wrong or the certificate cannot be verified.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static long wait_sql(PGconn *pg, long want, const char *sql)
{
    long v = -1;
    for (int i = 0; i < 450 && v != want; i++) {
        v = harness_pg_long(pg, sql);
        if (v != want)
            usleep(100 * 1000);
    }
    return v;
}

/* Runs one gateway against the TLS server with the given smtp settings; posts one mail. */
static void one_mail(struct harness_smtp *smtp, const char *name, const char *smtp_extra,
                     struct harness_env *env)
{
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "{\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"required\",%s},"
             "\"outbox\":{\"backoff_seconds\":1,\"poll_ms\":100},"
             "\"channels\":{\"email\":{\"from_address\":\"help@desk.example\"}}}",
             smtp->port, smtp_extra);
    assert_int_equal(harness_env_setup(env, name, cfg), 0);
    const char *raw = "From: tls@example.com\r\nSubject: secure\r\nMessage-ID: <tls1@example.com>"
                      "\r\n\r\nhello\r\n";
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", env->gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", raw, strlen(raw), &r);
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
}

static void test_starttls_and_auth(void **state)
{
    (void)state;
    struct harness_smtp smtp;
    harness_smtp_tls_start(&smtp, "agent", "s3cret");
    char ca[200], extra[400];
    snprintf(ca, sizeof(ca), "%.*s/cert.pem", (int)(strlen(smtp.dir) - 5), smtp.dir);

    /* Right CA and password: delivered. */
    snprintf(extra, sizeof(extra), "\"user\":\"agent\",\"password\":\"s3cret\",\"ca_file\":\"%s\"",
             ca);
    struct harness_env env;
    one_mail(&smtp, "smtps_ok", extra, &env);
    /* Generous: a stalled first session times out after 20 s and is retried. */
    assert_int_equal(harness_smtp_wait(&smtp, 1, 45000), 1);
    assert_int_equal(
        wait_sql(env.pg, 1, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'"),
        1);
    assert_int_equal(harness_env_teardown(&env), 0);

    /* Wrong password: refused, kept for retry with the reason. */
    snprintf(extra, sizeof(extra), "\"user\":\"agent\",\"password\":\"wrong\",\"ca_file\":\"%s\"",
             ca);
    one_mail(&smtp, "smtps_badpw", extra, &env);
    assert_int_equal(wait_sql(env.pg, 1,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = "
                              "'pending' AND attempts >= 1 AND last_error IS NOT NULL"),
                     1);
    assert_int_equal(harness_env_teardown(&env), 0);

    /* No CA for the self-signed certificate: TLS fails, nothing is sent in the clear. */
    one_mail(&smtp, "smtps_noca", "\"user\":\"agent\",\"password\":\"s3cret\"", &env);
    assert_int_equal(wait_sql(env.pg, 1,
                              "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = "
                              "'pending' AND attempts >= 1 AND last_error IS NOT NULL"),
                     1);
    assert_int_equal(harness_env_teardown(&env), 0);
    assert_int_equal(harness_smtp_wait(&smtp, 2, 500), 1); /* still only the first */
    harness_smtp_stop(&smtp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starttls_and_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
