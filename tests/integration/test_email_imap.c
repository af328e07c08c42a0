/*
 * IMAP polling against a real dovecot on loopback: mail is registered and
 * only then marked; a database that is away leaves the mail unread and
 * unmarked; a server restart in the middle of polling loses nothing and
 * duplicates nothing.
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

static void config_for(char *out, size_t n, int imap_port)
{
    snprintf(out, n,
             "{\"channels\":{\"email\":{\"imap\":{\"interval_seconds\":1,\"mailboxes\":[{\"url\":"
             "\"imap://127.0.0.1:%d/INBOX\",\"user\":\"agent\",\"password\":\"secret\","
             "\"starttls\":\"no\"}]}}}}",
             imap_port);
}

static void deliver(struct harness_imap *imap, const char *tag, int i)
{
    char raw[512];
    snprintf(raw, sizeof(raw),
             "From: sender%d@example.com\r\nSubject: %s %d\r\nMessage-ID: <%s-%d@example.com>\r\n"
             "\r\nmessage %d\r\n",
             i, tag, i, tag, i, i);
    harness_imap_deliver(imap, raw);
}

static long wait_count(PGconn *pg, const char *sql, long want, int seconds)
{
    long v = -1;
    for (int i = 0; i < seconds * 10 && v != want; i++) {
        v = harness_pg_long(pg, sql);
        if (v != want)
            usleep(100 * 1000);
    }
    return v;
}

/* Number of UIDs in a "* SEARCH ..." answer. */
static int uid_count(char *answer)
{
    int n = 0;
    char *p = strstr(answer, "* SEARCH");
    for (p = p ? p + 8 : NULL; p && *p && *p != '\r' && *p != '\n'; p++)
        if ((*p >= '0' && *p <= '9') && (p[-1] == ' '))
            n++;
    free(answer);
    return n;
}

static void test_mail_registered_then_marked(void **state)
{
    (void)state;
    struct harness_imap imap;
    harness_imap_start(&imap, 0);
    for (int i = 0; i < 3; i++)
        deliver(&imap, "drain", i);
    char cfg[512];
    config_for(cfg, sizeof(cfg), imap.port);
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "imap_drain", cfg), 0);
    assert_int_equal(wait_count(env.pg,
                                "SELECT count(*) FROM messages WHERE external_ref LIKE "
                                "'drain-%@example.com'",
                                3, 15),
                     3);
    /* Marked done and read only after the commit; nothing left to fetch. */
    for (int i = 0;
         i < 50 && uid_count(harness_imap_command(&imap, "UID SEARCH KEYWORD $IntakeDone")) < 3;
         i++)
        usleep(100 * 1000);
    assert_int_equal(uid_count(harness_imap_command(&imap, "UID SEARCH KEYWORD $IntakeDone")), 3);
    assert_int_equal(uid_count(harness_imap_command(&imap, "UID SEARCH UNSEEN")), 0);
    /* Mail arriving later is picked up by the next poll. */
    deliver(&imap, "drain", 3);
    assert_int_equal(wait_count(env.pg,
                                "SELECT count(*) FROM messages WHERE external_ref LIKE "
                                "'drain-%@example.com'",
                                4, 15),
                     4);
    assert_int_equal(harness_env_teardown(&env), 0);
    harness_imap_stop(&imap);
}

static void test_database_away_leaves_mail_unread(void **state)
{
    (void)state;
    struct harness_imap imap;
    harness_imap_start(&imap, 0);
    deliver(&imap, "away", 0);
    char cfg[512], dead[160];
    config_for(cfg, sizeof(cfg), imap.port);
    snprintf(dead, sizeof(dead), "postgresql://postgres@127.0.0.1:%d/none", harness_free_port());
    struct harness_gateway gw;
    harness_gateway_start_config(&gw, dead, cfg, NULL);
    sleep(3); /* several polls */
    assert_int_equal(harness_gateway_stop(&gw), 0);
    /* Fetched, not stored: no keyword, and \Seen taken back. */
    assert_int_equal(uid_count(harness_imap_command(&imap, "UID SEARCH KEYWORD $IntakeDone")), 0);
    assert_int_equal(uid_count(harness_imap_command(&imap, "UID SEARCH UNSEEN")), 1);
    /* With the database back, the same message is registered once. */
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "imap_away", cfg), 0);
    assert_int_equal(wait_count(env.pg,
                                "SELECT count(*) FROM messages WHERE external_ref = "
                                "'away-0@example.com'",
                                1, 15),
                     1);
    assert_int_equal(harness_env_teardown(&env), 0);
    harness_imap_stop(&imap);
}

static void test_server_restart_mid_poll(void **state)
{
    (void)state;
    struct harness_imap imap;
    harness_imap_start(&imap, 0);
    for (int i = 0; i < 20; i++)
        deliver(&imap, "restart", i);
    char cfg[512];
    config_for(cfg, sizeof(cfg), imap.port);
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "imap_restart", cfg), 0);
    /* Pull the server away while the poller is working through the mailbox. */
    wait_count(env.pg, "SELECT least(count(*), 1) FROM messages", 1, 15);
    harness_imap_stop(&imap);
    for (int i = 20; i < 30; i++)
        deliver(&imap, "restart", i);
    sleep(2);
    harness_imap_start(&imap, imap.port);
    assert_int_equal(wait_count(env.pg,
                                "SELECT count(*) FROM messages WHERE external_ref LIKE "
                                "'restart-%@example.com'",
                                30, 30),
                     30);
    /* Exactly once each. */
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(DISTINCT external_ref) FROM messages "
                                             "WHERE external_ref LIKE 'restart-%'"),
                     30);
    assert_int_equal(harness_env_teardown(&env), 0);
    harness_imap_stop(&imap);
}

/* Files in a maildir folder (new + cur). */
static int maildir_count(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "ls %s/new %s/cur 2>/dev/null | grep -vc -e '^$' -e ':$'", dir, dir);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p && fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

/* IMAP with STARTTLS required (private CA), processed mail moved to a folder. */
static void test_starttls_and_processed_folder(void **state)
{
    (void)state;
    struct harness_imap imap;
    harness_imap_tls_start(&imap);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %1$s/mail/agent/.Processed/new %1$s/mail/agent/.Processed/cur "
             "%1$s/mail/agent/.Processed/tmp && chown -R dovecot:dovecot %1$s/mail",
             imap.dir);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 2; i++)
        deliver(&imap, "tls", i);
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "{\"channels\":{\"email\":{\"imap\":{\"interval_seconds\":1,\"mailboxes\":[{\"url\":"
             "\"imap://127.0.0.1:%d/INBOX\",\"user\":\"agent\",\"password\":\"secret\","
             "\"starttls\":\"required\",\"ca_file\":\"%s/cert.pem\","
             "\"processed_folder\":\"Processed\"}]}}}}",
             imap.port, imap.dir);
    struct harness_env env;
    assert_int_equal(harness_env_setup(&env, "imap_tls", cfg), 0);
    assert_int_equal(wait_count(env.pg,
                                "SELECT count(*) FROM messages WHERE external_ref LIKE "
                                "'tls-%@example.com'",
                                2, 15),
                     2);
    char inbox[200], done[220];
    snprintf(inbox, sizeof(inbox), "%s/mail/agent", imap.dir);
    snprintf(done, sizeof(done), "%s/mail/agent/.Processed", imap.dir);
    for (int i = 0; i < 50 && maildir_count(done) < 2; i++)
        usleep(100 * 1000);
    assert_int_equal(maildir_count(done), 2);
    assert_int_equal(maildir_count(inbox), 0);
    assert_int_equal(harness_env_teardown(&env), 0);
    harness_imap_stop(&imap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail_registered_then_marked),
        cmocka_unit_test(test_database_away_leaves_mail_unread),
        cmocka_unit_test(test_server_restart_mid_poll),
        cmocka_unit_test(test_starttls_and_processed_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
