/*
 * A person's data on request: `intake customer export` and `erase` on a
 * customer who wrote by the API, email (with an attachment), chat and phone
 * (a voicemail with its transcript and recording), beside another customer.
 * The export holds all of it (JSON, and a zip with the raw mail and the
 * attachment); after the erase a pg_dump of the whole database holds none of
 * their strings, the other customer's are all there, their tickets stay as
 * anonymous records, and the audit trail names both acts. Refusals change
 * nothing, and neither does either command while the database is away
 * (exit 69).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dump_check.h"
#include "harness.h"
#include "phone_webhooks.h"
#include "ws_client.h"

#define ORIGIN      "http://shop.example"
#define HOOK_SECRET "privacy-hook-secret"
#define WAIT_MS     5000

/*
 * Every string of the person to be erased; none may survive the erase, as
 * text or inside a bytea (pg_dump writes those in hex). The attachment's
 * text is there only as the base64 of its raw mail.
 */
static const char *const theirs[] = {
    "zhao.lanting@example.cn", "+8613811112222", "Zhao Lanting",         "Lanting Trading",
    "INVOICE-ZL-7731",         "ZL-SECRET-4411", "WkwtQVRUQUNILTUxNTA=", "LANTING-CHAT-88",
    "VM-SECRET-5599",          "zl-rec-123",     "CMT-SECRET-31",        "API-ZL-9090"};
/* And the other customer's, which must all stay. */
static const char *const others[] = {"other.person@example.org", "OTHER-SECRET-777"};

static struct harness_env env;

static int setup(void **state)
{
    (void)state;
    return harness_env_setup(&env, "privacy",
                             "{\"channels\":{\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]},"
                             "\"phone\":{\"default_country_code\":\"86\","
                             "\"webhook_secret\":\"" HOOK_SECRET "\"}}}");
}

static int teardown(void **state)
{
    (void)state;
    return harness_env_teardown(&env);
}

static void post_email(const char *raw)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", env.gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", raw, strlen(raw), &r);
    if (r.status != 201)
        fail_msg("email: %ld %s", r.status, r.body);
    harness_response_free(&r);
}

static void make_their_data(void)
{
    free(harness_post_new_contact(&env.gw,
                                  "{\"external_id\":\"API-ZL-9090\",\"customer\":{\"name\":"
                                  "\"Zhao Lanting\",\"email\":\"zhao.lanting@example.cn\","
                                  "\"phone\":\"+8613811112222\",\"company\":\"Lanting Trading\"},"
                                  "\"body\":\"My order has not arrived\"}"));
    /* "ZL-ATTACH-5150" is the attachment's text, in base64. */
    post_email("From: Zhao Lanting <zhao.lanting@example.cn>\r\nTo: help@desk.example\r\n"
               "Subject: INVOICE-ZL-7731\r\nMessage-ID: <zl-1@mail.example.cn>\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
               "--b\r\nContent-Type: text/plain\r\n\r\nMy account is ZL-SECRET-4411.\r\n"
               "--b\r\nContent-Type: text/plain; name=note.txt\r\n"
               "Content-Disposition: attachment; filename=note.txt\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\nWkwtQVRUQUNILTUxNTA=\r\n--b--\r\n");
    post_email("From: Other Person <other.person@example.org>\r\nTo: help@desk.example\r\n"
               "Subject: OTHER-SECRET-777\r\nMessage-ID: <o-1@example.org>\r\n\r\nHello.\r\n");

    struct ws_client *c = ws_connect(env.gw.port, "/v1/chat", "intake-chat.v1", ORIGIN);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"en\",\"profile\":{\"name\":"
                           "\"Zhao Lanting\",\"email\":\"zhao.lanting@example.cn\"}}"));
    free(ws_recv_type(c, "welcome", WAIT_MS));
    assert_true(ws_send(c, "{\"type\":\"message\",\"client_id\":\"p1\",\"text\":\"code "
                           "LANTING-CHAT-88\"}"));
    char *ack = ws_recv_type(c, "ack", WAIT_MS);
    assert_non_null(ack);
    free(ack);
    ws_free(c);

    char json[512];
    snprintf(json, sizeof(json),
             "{\"event_id\":\"zl-vm-1\",\"call_id\":\"zl-call-1\",\"type\":\"voicemail\","
             "\"from\":\"+8613811112222\",\"to\":\"+861012345678\",\"caller_name\":\"Zhao "
             "Lanting\",\"transcript\":\"VM-SECRET-5599 please call\","
             "\"recording_url\":\"https://rec.example/zl-rec-123.mp3\"}");
    assert_int_equal(webhook_native(&env.gw, HOOK_SECRET, (long)time(NULL), json, NULL), 200);
    /* A survey answered with a comment, on their first ticket. */
    harness_pg_exec(env.pg, "INSERT INTO surveys (ticket_id, token_hash, language, expires_at, "
                            "answered_at, overall, comment) SELECT min(t.id), '\\x0a', 'en', "
                            "now() + interval '7 days', now(), 2, 'CMT-SECRET-31' FROM tickets t "
                            "JOIN customer_identities i ON i.customer_id = t.customer_id "
                            "WHERE i.value = 'zhao.lanting@example.cn'");
}

/* Runs `intake customer ARGS`; exit status, output in a malloc'd *out. */
static int customer(const char *args, char **out)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s customer %s 2>&1",
             env.db.url, INTAKE_BINARY, args);
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 20, len = 0, n;
    char *buf = malloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
        len += n;
    buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_export_holds_everything(void **state)
{
    (void)state;
    make_their_data();
    char *out = NULL;
    assert_int_equal(customer("export zhao.lanting@example.cn", &out), 0);
    /* Everything but the raw mail, which the zip carries. */
    for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
        if (strcmp(theirs[i], "WkwtQVRUQUNILTUxNTA=") && !strstr(out, theirs[i]))
            fail_msg("the export lacks %s", theirs[i]);
    assert_null(strstr(out, "OTHER-SECRET-777"));
    free(out);

    char zip[] = "/tmp/intake-export-XXXXXX";
    int fd = mkstemp(zip);
    close(fd);
    char args[128];
    snprintf(args, sizeof(args), "export +8613811112222 --output %s", zip);
    assert_int_equal(customer(args, &out), 0);
    free(out);
    /* The archive, read back with Python's zipfile. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); "
             "n=sorted(z.namelist()); print(n[0], len(n), "
             "any(b'WkwtQVRUQUNILTUxNTA=' in z.read(x) for x in n if x.startswith('sources/')), "
             "any(b'Message-ID: <zl-1@mail.example.cn>' in z.read(x) for x in n "
             "if x.startswith('sources/')))\" %s",
             zip);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    unlink(zip);
    /* customer.json and the email's raw source (the API, chat and phone keep none). */
    assert_string_equal(line, "customer.json 2 True True\n");
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM audit_log "
                                             "WHERE action = 'customer.export'"),
                     2);
}

static void test_refusals_change_nothing(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(customer("erase zhao.lanting@example.cn", &out), 64);
    assert_non_null(strstr(out, "--yes"));
    free(out);
    assert_int_equal(customer("erase nobody@example.com --yes", &out), 65);
    assert_non_null(strstr(out, "no customer is known"));
    free(out);
    /* One customer's number is another's chat identity: ambiguous, refused. */
    char *number = harness_pg_text(env.pg, "SELECT c.number FROM customers c JOIN "
                                           "customer_identities i ON i.customer_id = c.id "
                                           "WHERE i.value = 'other.person@example.org'");
    harness_pg_exec(env.pg, "INSERT INTO customer_identities (kind, value, customer_id) "
                            "SELECT 'chat', lower(c.number), i.customer_id FROM customers c, "
                            "customer_identities i WHERE i.value = 'zhao.lanting@example.cn' "
                            "AND c.id <> i.customer_id LIMIT 1");
    char args[128];
    snprintf(args, sizeof(args), "erase %s --yes", number);
    assert_int_equal(customer(args, &out), 65);
    assert_non_null(strstr(out, "more than one customer"));
    free(out);
    free(number);
    harness_pg_exec(env.pg, "DELETE FROM customer_identities WHERE kind = 'chat' "
                            "AND value LIKE 'c-%'");
    assert_int_equal(customer("export", &out), 64);
    free(out);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM audit_log "
                                             "WHERE action = 'customer.erase'"),
                     0);
}

static void test_erase_leaves_nothing_of_theirs(void **state)
{
    (void)state;
    long tickets = harness_pg_long(env.pg, "SELECT count(*) FROM tickets");
    char *before = dump_check_rows(env.db.url);
    for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
        if (!dump_check_holds(before, theirs[i]))
            fail_msg("the fixture lacks %s before the erase", theirs[i]);
    free(before);

    char *out = NULL;
    assert_int_equal(customer("erase zhao.lanting@example.cn --yes", &out), 0);
    assert_non_null(strstr(out, "erased the personal data of C-"));
    free(out);

    char *after = dump_check_rows(env.db.url);
    for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
        if (dump_check_holds(after, theirs[i]))
            fail_msg("%s is still in the database after the erase", theirs[i]);
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        if (!dump_check_holds(after, others[i]))
            fail_msg("the other customer's %s went too", others[i]);
    free(after);
    /* The tickets stay, anonymous, with their times and ratings. */
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM tickets"), tickets);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM surveys WHERE overall = 2"), 1);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM audit_log "
                                             "WHERE action = 'customer.erase'"),
                     1);
    /* Nobody is known by that address any more. */
    assert_int_equal(customer("export zhao.lanting@example.cn", &out), 65);
    free(out);
}

struct racing_contact {
    const char *json;
    long status;
};

static void *post_racing_contact(void *arg)
{
    struct racing_contact *rc = arg;
    struct harness_response r;
    harness_post_contact(&env.gw, rc->json, &r);
    rc->status = r.status;
    harness_response_free(&r);
    return NULL;
}

/*
 * A contact that arrives while its customer is being erased waits for the
 * erase and starts a new customer record with a new ticket: nothing of it
 * joins the erased record or its anonymous tickets.
 */
static void test_contact_during_erase_starts_a_new_record(void **state)
{
    (void)state;
    free(harness_post_new_contact(&env.gw, "{\"external_id\":\"RACE-1\",\"customer\":{"
                                           "\"email\":\"race.person@example.net\"},"
                                           "\"body\":\"RACE-BEFORE\"}"));
    char *old = harness_pg_text(env.pg, "SELECT customer_id::text FROM customer_identities "
                                        "WHERE value = 'race.person@example.net'");
    /* The erase holds its locks, uncommitted, while the contact comes in. */
    PGconn *eraser = harness_pg(env.db.url);
    harness_pg_exec(eraser, "BEGIN");
    harness_pg_exec(eraser, "SELECT intake_customer_erase('race.person@example.net', 'test')");
    struct racing_contact rc = {"{\"external_id\":\"RACE-2\",\"customer\":{\"email\":"
                                "\"race.person@example.net\",\"name\":\"Race Person\"},"
                                "\"body\":\"RACE-AFTER\"}",
                                0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, post_racing_contact, &rc), 0);
    assert_int_equal(harness_pg_wait(env.pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                     "current_database() AND wait_event_type = 'Lock'",
                                     1),
                     1);
    harness_pg_exec(eraser, "COMMIT");
    PQfinish(eraser);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rc.status, 201);

    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT t.customer_id::text FROM messages m JOIN tickets t ON t.id = m.ticket_id "
             "WHERE m.body LIKE '%%RACE-AFTER%%' AND t.personal_data_erased_at IS NULL "
             "AND t.customer_id <> %s",
             old);
    char *fresh = harness_pg_text(env.pg, sql);
    assert_non_null(fresh);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM customers c JOIN customer_identities i ON i.customer_id = c.id "
             "WHERE c.id = %s AND c.erased_at IS NULL AND i.value = 'race.person@example.net'",
             fresh);
    assert_int_equal(harness_pg_long(env.pg, sql), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM tickets WHERE customer_id = %s "
             "AND personal_data_erased_at IS NULL",
             old);
    assert_int_equal(harness_pg_long(env.pg, sql), 0);
    free(fresh);
    free(old);
}

/* The search index and an erase (intake_search_lock_key): a pass of the
 * indexer while an erase is uncommitted writes nothing (it read the old
 * text of messages the erase was rewriting, and wrote their words into
 * the index after the erase: the flake this test replaced), and an erase
 * waits for a pass in flight. The newest message is left unindexed by
 * hand while the erase is open; without the lock the pass indexes it. */
static void test_search_index_keeps_out_of_an_erase(void **state)
{
    (void)state;
    /* The one to erase, then a bystander, each with its acknowledgement
     * delivered and recorded: the bystander's messages are the newest. */
    free(harness_post_new_contact(&env.gw, "{\"external_id\":\"IDX-1\",\"customer\":{"
                                           "\"email\":\"index.race@example.net\"},"
                                           "\"body\":\"IDXRACE-ONE\"}"));
    assert_int_equal(harness_pg_wait(env.pg,
                                     "SELECT count(*) FROM outbox o JOIN messages m ON "
                                     "m.ticket_id = o.ticket_id WHERE m.body = 'IDXRACE-ONE' "
                                     "AND o.status IN ('pending', 'sending')",
                                     0),
                     0);
    free(harness_post_new_contact(&env.gw, "{\"external_id\":\"IDX-2\",\"customer\":{"
                                           "\"email\":\"index.bystander@example.net\"},"
                                           "\"body\":\"IDXRACE-TWO\"}"));
    const char *unindexed = "SELECT count(*) FROM messages m WHERE m.id >= (SELECT id FROM "
                            "messages WHERE body = 'IDXRACE-TWO') AND NOT EXISTS (SELECT 1 "
                            "FROM message_search s WHERE s.message_id = m.id)";
    assert_int_equal(harness_pg_wait(env.pg, unindexed, 0), 0);

    PGconn *eraser = harness_pg(env.db.url);
    harness_pg_exec(eraser, "BEGIN");
    harness_pg_exec(eraser, "SELECT intake_customer_erase('index.race@example.net', 'test')");
    /* The bystander's messages, unindexed as if just registered. */
    harness_pg_exec(env.pg, "DELETE FROM message_search WHERE message_id >= (SELECT id FROM "
                            "messages WHERE body = 'IDXRACE-TWO')");
    long left = harness_pg_long(env.pg, unindexed);
    assert_true(left >= 1);
    assert_int_equal(harness_pg_long(env.pg, "SELECT intake_search_catch_up(1000)"), 0);
    usleep(1500 * 1000); /* the gateway's dispatcher passes too, every few hundred ms */
    assert_int_equal(harness_pg_long(env.pg, unindexed), left);
    harness_pg_exec(eraser, "COMMIT");
    assert_int_equal(harness_pg_wait(env.pg, unindexed, 0), 0);

    /* A pass in flight (the lock shared) holds an erase back until it ends. */
    PGconn *pass = harness_pg(env.db.url);
    harness_pg_exec(pass, "BEGIN");
    harness_pg_exec(pass, "SELECT pg_advisory_xact_lock_shared(intake_search_lock_key())");
    assert_int_equal(PQsendQuery(eraser, "SELECT intake_customer_erase("
                                         "'index.bystander@example.net', 'test')"),
                     1);
    assert_int_equal(harness_pg_wait(env.pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                     "current_database() AND wait_event_type = 'Lock' "
                                     "AND query LIKE '%index.bystander%'",
                                     1),
                     1);
    harness_pg_exec(pass, "COMMIT");
    PGresult *res;
    int ok = 0;
    while ((res = PQgetResult(eraser))) {
        ok += PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
    }
    assert_int_equal(ok, 1);
    PQfinish(pass);
    PQfinish(eraser);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM message_search s JOIN "
                                             "messages m ON m.id = s.message_id WHERE "
                                             "s.search @@ to_tsquery('english', 'idxrace') OR "
                                             "m.body LIKE "
                                             "'%IDXRACE%'"),
                     0);
}

/* A delivery on its way while its customer is erased: the dispatcher
 * records it afterwards (intake_outbox_record) and must write back neither
 * the text it sent nor a refusal's words. The row stands for one this
 * gateway claimed (status sending, its lease an hour ahead, so the real
 * dispatcher leaves it alone). */
static void test_delivery_recorded_after_an_erase_writes_nothing(void **state)
{
    (void)state;
    free(harness_post_new_contact(&env.gw, "{\"external_id\":\"REC-1\",\"customer\":{"
                                           "\"email\":\"record.race@example.net\"},"
                                           "\"body\":\"hello\"}"));
    long row[2];
    for (int i = 0; i < 2; i++)
        row[i] = harness_pg_longf(env.pg,
                                  "INSERT INTO outbox (kind, channel, ticket_id, dedupe_key, "
                                  "payload, status, attempts, next_attempt_at) SELECT 'reply', "
                                  "'email', ticket_id, 'rec-race-%d', '{\"to\": "
                                  "\"record.race@example.net\"}', 'sending', 1, now() + "
                                  "interval '1 hour' FROM messages WHERE body = 'hello' "
                                  "ORDER BY id DESC LIMIT 1 RETURNING id",
                                  i);
    char *out = NULL;
    assert_int_equal(customer("erase record.race@example.net --yes", &out), 0);
    free(out);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT concat_ws(' ', sent, skipped, retried, recorded) FROM intake_outbox_record("
             "jsonb_build_object('sent', jsonb_build_array(%ld), 'records', jsonb_build_array("
             "jsonb_build_object('id', %ld, 'subject', 'Re: RECRACE', 'text', 'Dear RECRACE')), "
             "'retry', jsonb_build_array(jsonb_build_object('id', %ld, 'delay', 60, 'why', "
             "'550 <record.race@example.net> RECRACE'))), 5, ARRAY[%ld, %ld])",
             row[0], row[0], row[1], row[0], row[1]);
    harness_pg_text_is(env.pg, sql, "0 0 0 0");
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM messages WHERE body LIKE "
                                             "'%RECRACE%' OR subject LIKE '%RECRACE%'"),
                     0);
    assert_int_equal(harness_pg_longf(env.pg,
                                      "SELECT count(*) FROM outbox WHERE id IN (%ld, %ld) AND "
                                      "status = 'skipped' AND last_error = 'personal data "
                                      "erased'",
                                      row[0], row[1]),
                     2);
}

/* The database is away: exit 69 with a clear message, and no file is written. */
static void test_database_down_changes_nothing(void **state)
{
    (void)state;
    char down[256], zip[] = "/tmp/intake-export-down-XXXXXX", cmd[1024];
    harness_unreachable_db_url(down, sizeof(down));
    int fd = mkstemp(zip);
    close(fd);
    unlink(zip);
    long erasures = harness_pg_long(env.pg, "SELECT count(*) FROM audit_log "
                                            "WHERE action = 'customer.erase'");
    const char *verbs[] = {"export C-000001 --output", "erase C-000001 --yes"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd), "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s customer %s %s 2>&1",
                 down, INTAKE_BINARY, verbs[i], i == 0 ? zip : "");
        FILE *p = popen(cmd, "r");
        char out[4096] = "";
        size_t n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = '\0';
        int st = pclose(p);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 69);
        if (!strstr(out, "intake customer: cannot reach the database"))
            fail_msg("%s: %s", verbs[i], out);
    }
    assert_int_equal(access(zip, F_OK), -1);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM audit_log "
                                             "WHERE action = 'customer.erase'"),
                     erasures);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_holds_everything),
        cmocka_unit_test(test_refusals_change_nothing),
        cmocka_unit_test(test_erase_leaves_nothing_of_theirs),
        cmocka_unit_test(test_contact_during_erase_starts_a_new_record),
        cmocka_unit_test(test_search_index_keeps_out_of_an_erase),
        cmocka_unit_test(test_delivery_recorded_after_an_erase_writes_nothing),
        cmocka_unit_test(test_database_down_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
