/*
 * The webhook spool (src/gw_spool.h) against a PostgreSQL of its own that
 * the tests stop and start: while the database is away, verified phone
 * webhooks (Twilio's form, a CTI bridge's) are answered 200 and kept as
 * files (0600 in a 0700 directory), /readyz says "degraded: spooling" and
 * /metrics counts them; an invalid signature is still refused 403 and never
 * kept. When the database is back they are registered in arrival order,
 * exactly once (calls, events and tickets counted in SQL), and the spool is
 * empty. Also: the bound (503 + Retry-After), a torn file after kill -9
 * (removed with a log line, the rest replayed), a file that outlived its
 * commit (no duplicate), and a second gateway on the same directory (it
 * refuses to start).
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "phone_env.h"
#include "phone_webhooks.h"

extern char **environ;

struct fixture {
    char cluster[256]; /* the PostgreSQL data directory */
    char server[256];
    char spool[256];
    char config[4096];
    struct harness_db db;
    struct harness_gateway gw;
    PGconn *pg; /* NULL while the database is stopped */
};

static int database(struct fixture *f, const char *verb)
{
    char cmd[512];
    int port = atoi(strrchr(f->server, ':') + 1);
    if (!strcmp(verb, "start"))
        snprintf(cmd, sizeof(cmd), "pg_start %s %d fsync=off", f->cluster, port);
    else
        snprintf(cmd, sizeof(cmd), "pg_stop %s", f->cluster);
    if (!strcmp(verb, "stop") && f->pg) {
        PQfinish(f->pg);
        f->pg = NULL;
    }
    int rc = harness_lib_sh(cmd);
    if (!strcmp(verb, "start") && rc == 0 && f->db.url[0])
        f->pg = harness_pg(f->db.url);
    return rc;
}

/* The phone tests' settings with a spool of max_bytes at f->spool. */
static void write_config(struct fixture *f, long max_bytes)
{
    snprintf(f->config, sizeof(f->config), "{\"spool\":{\"dir\":\"%s\",\"max_bytes\":%ld},%s",
             f->spool, max_bytes, phone_env_config("http://127.0.0.1:9/sms") + 1);
}

static void gateway_start(struct fixture *f)
{
    harness_gateway_start_config(&f->gw, f->db.url, f->config, NULL);
}

static int setup(void **state)
{
    static struct fixture f;
    *state = &f;
    snprintf(f.cluster, sizeof(f.cluster), "/tmp/intake-pg-spool-%d", (int)getpid());
    snprintf(f.server, sizeof(f.server), "postgresql://postgres@127.0.0.1:%d/postgres",
             harness_free_port());
    if (database(&f, "start") != 0)
        return -1;
    harness_db_create_on(&f.db, f.server, "spool");
    if (harness_migrate(f.db.url, NULL, 0) != 0)
        return -1;
    f.pg = harness_pg(f.db.url);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    database(f, "stop");
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->cluster);
    harness_lib_sh(cmd);
    return 0;
}

/* Each test: a spool directory of its own, and the database up. */
static int test_setup(void **state)
{
    struct fixture *f = *state;
    static int n;
    snprintf(f->spool, sizeof(f->spool), "/tmp/intake-spool-%d-%d/gw", (int)getpid(), ++n);
    write_config(f, 1 << 20);
    return 0;
}

static int test_teardown(void **state)
{
    struct fixture *f = *state;
    if (f->gw.pid > 0)
        harness_gateway_stop(&f->gw);
    if (!f->pg)
        database(f, "start");
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strrchr(f->spool, '/') - f->spool), f->spool);
    harness_lib_sh(cmd);
    return 0;
}

/* The spooled files (*.ev) in the directory; each must be 0600. */
static int spooled_files(struct fixture *f)
{
    DIR *d = opendir(f->spool);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".ev"))
            continue;
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", f->spool, de->d_name);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        n++;
    }
    closedir(d);
    return n;
}

static long get(struct fixture *f, const char *path, char **body)
{
    char url[160];
    snprintf(url, sizeof(url), "%s%s", f->gw.base, path);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    long st = r.status;
    if (body)
        *body = strdup(r.body ? r.body : "");
    harness_response_free(&r);
    return st;
}

/* Waits (up to 20 s) until the gateway's spool is empty. */
static void wait_drained(struct fixture *f)
{
    for (int i = 0; i < 200 && harness_metric(&f->gw, "intake_spool_events") != 0; i++)
        usleep(100 * 1000);
    assert_int_equal((long)harness_metric(&f->gw, "intake_spool_events"), 0);
}

static long twilio(struct fixture *f, const char *sid, const char *status)
{
    char call[64], state[64];
    snprintf(call, sizeof(call), "CallSid=%s", sid);
    snprintf(state, sizeof(state), "CallStatus=%s", status);
    const char *fields[] = {
        call, state, "Direction=inbound", "From=+8613811110001", "To=+861012345678", NULL};
    return webhook_twilio(&f->gw, PUBLIC_URL, TWILIO_TOKEN, NULL, fields, NULL);
}

static long cti(struct fixture *f, const char *call, const char *event)
{
    char form[256];
    snprintf(form, sizeof(form),
             "event=%s&cause=cancel&direction=in&callId=%s&from=%%2B8613822220002&to="
             "%%2B861012345678",
             event, call);
    return webhook_cti(&f->gw, CTI_TOKEN, form);
}

/*
 * More calls than one replay batch (32) takes, each missed by a caller of
 * its own, so each opens a ticket: the tickets' order is the calls' order
 * of arrival across the batches, and each call is registered once.
 */
static void test_many_calls_replay_in_batches_in_arrival_order(void **state)
{
    struct fixture *f = *state;
    gateway_start(f);
    assert_int_equal(database(f, "stop"), 0);
    enum { CALLS = 75 };
    for (int i = 0; i < CALLS; i++) {
        char call[64], from[64];
        /* Call ids that sort against their arrival: a batch in lock order would reverse them. */
        snprintf(call, sizeof(call), "CallSid=CA-BATCH-%03d", CALLS - i);
        snprintf(from, sizeof(from), "From=+86139000%05d", i);
        const char *fields[] = {call, "CallStatus=no-answer", "Direction=inbound",
                                from, "To=+861012345678",     NULL};
        assert_int_equal(webhook_twilio(&f->gw, PUBLIC_URL, TWILIO_TOKEN, NULL, fields, NULL), 200);
    }
    assert_int_equal(spooled_files(f), CALLS);
    assert_int_equal(database(f, "start"), 0);
    wait_drained(f);
    assert_int_equal(spooled_files(f), 0);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM call_events WHERE call_id LIKE "
                                            "'CA-BATCH-%'"),
                     CALLS);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(DISTINCT ticket_id) FROM calls WHERE "
                                            "call_id LIKE 'CA-BATCH-%'"),
                     CALLS);
    /* No later call (a lower id) has an older ticket. */
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls a, calls b WHERE "
                                            "a.call_id LIKE 'CA-BATCH-%' AND b.call_id LIKE "
                                            "'CA-BATCH-%' AND a.call_id > b.call_id AND "
                                            "a.ticket_id > b.ticket_id"),
                     0);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
}

static long post_mail(struct fixture *f, const char *message_id)
{
    char mail[512], url[160];
    snprintf(mail, sizeof(mail),
             "From: Li Lei <li.lei@example.com>\r\nTo: help@example.com\r\n"
             "Subject: printer broken\r\nMessage-ID: %s\r\n\r\nMy printer is broken.\r\n",
             message_id);
    snprintf(url, sizeof(url), "%s/v1/email/inbound", f->gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", mail, strlen(mail), &r);
    long st = r.status;
    /* 200 is either the spool's answer or a duplicate's. */
    if (st == 200)
        assert_true(strstr(r.body, "\"spooled\"") || strstr(r.body, "\"duplicate\":true"));
    harness_response_free(&r);
    return st;
}

static void test_outage_spools_and_replays_once_in_order(void **state)
{
    struct fixture *f = *state;
    gateway_start(f);
    assert_int_equal(database(f, "stop"), 0);
    char *body = NULL;
    assert_int_equal(get(f, "/readyz", &body), 200);
    assert_non_null(strstr(body, "\"database\":\"unavailable\""));
    free(body);

    assert_int_equal(twilio(f, "CA-SPOOL-1", "ringing"), 200);
    assert_int_equal(twilio(f, "CA-SPOOL-1", "no-answer"), 200);
    assert_int_equal(cti(f, "pbx-spool-2", "newCall"), 200);
    assert_int_equal(cti(f, "pbx-spool-2", "hangup"), 200);
    /* A forged signature is refused as ever, and never kept. */
    const char *forged[] = {"CallSid=CA-FORGED", "CallStatus=no-answer", "From=+8613811110009",
                            NULL};
    assert_int_equal(webhook_twilio(&f->gw, PUBLIC_URL, "not-the-token", NULL, forged, NULL), 403);

    /* Senders that retry are told to: the API and, by default, the mail route do not spool. */
    struct harness_response r;
    harness_post_contact(&f->gw,
                         "{\"external_id\":\"api-1\",\"customer\":{\"email\":\"c1@example.com\"},"
                         "\"body\":\"hello\"}",
                         &r);
    assert_int_equal(r.status, 503);
    assert_true(atoi(r.retry_after) >= 1);
    assert_non_null(strstr(r.body, "same idempotency key"));
    harness_response_free(&r);
    assert_int_equal(post_mail(f, "<m-1@example.com>"), 503);

    assert_int_equal(spooled_files(f), 4);
    struct stat st;
    assert_int_equal(stat(f->spool, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(get(f, "/readyz", &body), 200);
    assert_non_null(strstr(body, "spooling (4 events)"));
    free(body);
    assert_int_equal((long)harness_metric(&f->gw, "intake_spool_events"), 4);
    assert_int_equal((long)harness_metric(&f->gw, "intake_spool_spooled_total"), 4);
    assert_true(harness_metric(&f->gw, "intake_spool_bytes") > 0);
    assert_int_equal((long)harness_metric(&f->gw, "intake_contacts_registered_total"), 0);

    assert_int_equal(database(f, "start"), 0);
    wait_drained(f);
    assert_int_equal(spooled_files(f), 0);
    assert_int_equal((long)harness_metric(&f->gw, "intake_spool_replayed_total"), 4);
    /*
     * Registered once each, in the order they came: the missed call made its
     * ticket. The replay registers them in one transaction (one batch), so
     * the events share its time: never the later one first.
     */
    harness_pg_text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'CA-SPOOL-1'", "missed");
    harness_pg_text_is(f->pg,
                       "SELECT string_agg(kind, ',' ORDER BY kind DESC) FROM "
                       "call_events WHERE call_id = 'CA-SPOOL-1'",
                       "ringing,missed");
    harness_pg_text_is(f->pg,
                       "SELECT bool_and(r.received_at <= m.received_at)::text FROM call_events r, "
                       "call_events m WHERE r.call_id = 'CA-SPOOL-1' AND m.call_id = r.call_id "
                       "AND r.kind = 'ringing' AND m.kind = 'missed'",
                       "true");
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM call_events"), 4);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls"), 2);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM tickets"), 2);
    /* The Twilio call came first, so its ticket is the older one. */
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM calls a, calls b, tickets ta, "
                                            "tickets tb WHERE a.call_id = 'CA-SPOOL-1' AND "
                                            "b.call_id = 'pbx-spool-2' AND ta.id = a.ticket_id "
                                            "AND tb.id = b.ticket_id AND ta.number < tb.number"),
                     1);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM call_events WHERE call_id = "
                                            "'CA-FORGED'"),
                     0);
    assert_int_equal(get(f, "/readyz", &body), 200);
    assert_non_null(strstr(body, "\"ready\""));
    free(body);
    /* The outage is logged when spooling starts and when it is over, not per request. */
    assert_int_equal(harness_count_lines(f->gw.log_path, "spooling started"), 1);
    assert_int_equal(harness_count_lines(f->gw.log_path, "spool: drained"), 1);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
    /* A replayed contact's line names the request the webhook came with (kept in the spool). */
    assert_int_equal(harness_count_lines(f->gw.log_path, "contact.registered"), 4);
    FILE *log = fopen(f->gw.log_path, "r");
    assert_non_null(log);
    char line[4096];
    while (fgets(line, sizeof(line), log))
        if (strstr(line, "contact.registered") && !strstr(line, " request="))
            fail_msg("a replayed contact's line names no request: %s", line);
    fclose(log);
}

static void test_mail_spools_when_asked(void **state)
{
    struct fixture *f = *state;
    snprintf(f->config, sizeof(f->config),
             "{\"spool\":{\"dir\":\"%s\",\"channels\":[\"email\",\"phone\"]},%s", f->spool,
             phone_env_config("http://127.0.0.1:9/sms") + 1);
    gateway_start(f);
    assert_int_equal(database(f, "stop"), 0);
    assert_int_equal(post_mail(f, "<spooled-1@example.com>"), 200);
    assert_int_equal(twilio(f, "CA-MAIL-1", "no-answer"), 200);
    assert_int_equal(spooled_files(f), 2);
    assert_int_equal(database(f, "start"), 0);
    wait_drained(f);
    /* The raw message came back with it, and the time it arrived. */
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM messages m JOIN message_sources "
                                            "s ON s.message_id = m.id WHERE m.idempotency_key "
                                            "LIKE '%spooled-1@example.com%' AND m.received_at < "
                                            "m.created_at - interval '100 ms'"),
                     1);
    assert_int_equal(post_mail(f, "<spooled-1@example.com>"), 200); /* a duplicate now */
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM messages WHERE idempotency_key "
                                            "LIKE '%spooled-1@example.com%'"),
                     1);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
}

static void test_over_the_bound_is_503(void **state)
{
    struct fixture *f = *state;
    write_config(f, 4096); /* room for a few events */
    gateway_start(f);
    assert_int_equal(database(f, "stop"), 0);
    int spooled = 0, refused = 0;
    for (int i = 0; i < 12; i++) {
        char sid[32];
        snprintf(sid, sizeof(sid), "CA-FULL-%d", i);
        long st = twilio(f, sid, "no-answer");
        assert_true(st == 200 || st == 503);
        spooled += st == 200;
        refused += st == 503;
    }
    assert_true(spooled >= 1 && refused >= 1);
    assert_int_equal(spooled_files(f), spooled);
    assert_int_equal((long)harness_metric(&f->gw, "intake_spool_refused_total"), refused);
    /* Full: a load balancer should now send elsewhere. */
    assert_int_equal(get(f, "/readyz", NULL), 503);
    assert_int_equal(harness_count_lines(f->gw.log_path, "spool: full"), 1);
    assert_int_equal(database(f, "start"), 0);
    wait_drained(f);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM call_events WHERE call_id "
                                            "LIKE 'CA-FULL-%'"),
                     spooled);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
}

/* Copies the first half of the spool's oldest file to name: a write a crash cut short. */
static void write_torn(struct fixture *f, const char *name)
{
    char src[512], dst[512];
    snprintf(src, sizeof(src), "%s/%020d.ev", f->spool, 1);
    snprintf(dst, sizeof(dst), "%s/%s", f->spool, name);
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, n / 2), (ssize_t)(n / 2));
    close(fd);
}

static void test_kill_9_and_a_torn_file_lose_nothing(void **state)
{
    struct fixture *f = *state;
    gateway_start(f);
    assert_int_equal(database(f, "stop"), 0);
    assert_int_equal(twilio(f, "CA-KILL-1", "no-answer"), 200);
    assert_int_equal(cti(f, "pbx-kill-2", "newCall"), 200);
    assert_int_equal(cti(f, "pbx-kill-2", "hangup"), 200);
    kill(f->gw.pid, SIGKILL);
    assert_int_equal(harness_gateway_stop(&f->gw), 128 + SIGKILL);
    write_torn(f, "00000000000000000004.ev");
    assert_int_equal(spooled_files(f), 4);

    /* Restarted while the database is still away: the torn file goes, the rest waits. */
    gateway_start(f);
    assert_int_equal(harness_count_lines(f->gw.log_path, "00000000000000000004.ev is torn"), 1);
    assert_int_equal(spooled_files(f), 3);
    assert_int_equal((long)harness_metric(&f->gw, "intake_spool_events"), 3);
    assert_int_equal(database(f, "start"), 0);
    wait_drained(f);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM call_events WHERE call_id IN "
                                            "('CA-KILL-1', 'pbx-kill-2')"),
                     3);
    harness_pg_text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'pbx-kill-2'", "missed");
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM tickets t JOIN calls c ON "
                                            "c.ticket_id = t.id WHERE c.call_id IN "
                                            "('CA-KILL-1', 'pbx-kill-2')"),
                     2);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
}

static void test_a_file_that_outlived_its_commit_is_no_duplicate(void **state)
{
    struct fixture *f = *state;
    gateway_start(f);
    assert_int_equal(database(f, "stop"), 0);
    assert_int_equal(twilio(f, "CA-TWICE", "no-answer"), 200);
    char src[512], copy[512];
    snprintf(src, sizeof(src), "%s/%020d.ev", f->spool, 1);
    snprintf(copy, sizeof(copy), "%s.copy", f->spool);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cp -p %s %s", src, copy);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(database(f, "start"), 0);
    wait_drained(f);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
    /* A crash between the commit and the unlink: the file is back after the restart. */
    snprintf(cmd, sizeof(cmd), "mv %s %s", copy, src);
    assert_int_equal(system(cmd), 0);
    gateway_start(f);
    wait_drained(f);
    assert_int_equal(spooled_files(f), 0);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM call_events WHERE call_id = "
                                            "'CA-TWICE'"),
                     1);
    assert_int_equal(harness_pg_long(f->pg, "SELECT count(*) FROM tickets t JOIN calls c ON "
                                            "c.ticket_id = t.id WHERE c.call_id = 'CA-TWICE'"),
                     1);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
}

static void test_second_gateway_on_the_same_spool_refuses_to_start(void **state)
{
    struct fixture *f = *state;
    gateway_start(f);
    char config[256], log[256], e_db[600], e_listen[64], e_token[64], e_config[300];
    snprintf(config, sizeof(config), "/tmp/intake-spool-second-%d.json", (int)getpid());
    snprintf(log, sizeof(log), "/tmp/intake-spool-second-%d.log", (int)getpid());
    FILE *cf = fopen(config, "w");
    assert_non_null(cf);
    fputs(f->config, cf);
    fclose(cf);
    snprintf(e_db, sizeof(e_db), "INTAKE_DATABASE_URL=%s", f->db.url);
    snprintf(e_listen, sizeof(e_listen), "INTAKE_LISTEN=127.0.0.1:%d", harness_free_port());
    snprintf(e_token, sizeof(e_token), "INTAKE_API_TOKEN=%s", HARNESS_TOKEN);
    snprintf(e_config, sizeof(e_config), "INTAKE_CONFIG=%s", config);
    char *envp[] = {e_db, e_listen, e_token, e_config, NULL};
    char *argv[] = {(char *)INTAKE_BINARY, (char *)"serve", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, INTAKE_BINARY, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0, waited = 0;
    for (int i = 0; i < 100 && !waited; i++) {
        waited = waitpid(pid, &status, WNOHANG) == pid;
        if (!waited)
            usleep(100 * 1000);
    }
    if (!waited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("a second gateway on the same spool directory kept running");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 69); /* EX_UNAVAILABLE */
    assert_int_equal(harness_count_lines(log, "is in use by another gateway"), 1);
    unlink(config);
    unlink(log);
    /* The first one serves on. */
    assert_int_equal(get(f, "/readyz", NULL), 200);
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outage_spools_and_replays_once_in_order, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_many_calls_replay_in_batches_in_arrival_order,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_mail_spools_when_asked, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_over_the_bound_is_503, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_kill_9_and_a_torn_file_lose_nothing, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_a_file_that_outlived_its_commit_is_no_duplicate,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_second_gateway_on_the_same_spool_refuses_to_start,
                                        test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
