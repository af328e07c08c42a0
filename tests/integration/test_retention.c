/*
 * Retention on two gateways at once (retention.personal_data_days 30,
 * raw_mail_days 10, a turn every second) over customers whose data is, by
 * backdating, of every age: Alice's only ticket closed 60 days ago (she is
 * erased whole), Bob's old ticket closed 60 days ago beside a new open one
 * (only the old ticket's data goes; his record stays for the new one),
 * Carol's ticket closed 5 days ago (kept), Dan's open ticket with mail from
 * 20 days ago and from today (the old raw mail and attachment bytes go, the
 * message text and today's mail stay). Then: a pg_dump holds none of what
 * went and all of what stayed; the runs, counted in the audit trail, did
 * each piece once although two gateways ran them; `intake report` on the
 * period says the same as before (but for survey comments, which are
 * personal data); one run takes one batch.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "dump_check.h"
#include "harness.h"

static struct harness_db db;
static PGconn *pg;
static char as_of[32], from[16], to[16];

/* What retention must remove, and what it must keep. */
static const char *const gone[] = {"retention-alice@example.test",
                                   "ALICE-SECRET-1",
                                   "ALICE-SUBJ",
                                   "ALICE-COMMENT",
                                   "Alice Old",
                                   "BOB-OLD-SECRET",
                                   "DAN-RAW-ONLY",
                                   "DAN-ATTACH-BYTES"};
static const char *const kept[] = {"retention-bob@example.test",
                                   "Bob Both",
                                   "BOB-NEW-TEXT",
                                   "retention-carol@example.test",
                                   "CAROL-RECENT",
                                   "DAN-OLD-MAIL",
                                   "DAN-NEW-RAW",
                                   "DAN-NEW-ATTACH"};

static void post_email(const struct harness_gateway *gw, const char *from_addr, const char *id,
                       const char *header, const char *body)
{
    char raw[1024], url[128];
    snprintf(
        raw, sizeof(raw),
        "From: %s\r\nTo: help@desk.example\r\nSubject: mail %s\r\nMessage-ID: <%s@example.test>"
        "\r\n%s\r\n\r\n%s\r\n",
        from_addr, id, id, header, body);
    snprintf(url, sizeof(url), "%s/v1/email/inbound", gw->base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", raw, strlen(raw), &r);
    if (r.status != 201)
        fail_msg("email %s: %ld %s", id, r.status, r.body);
    harness_response_free(&r);
}

static void contact(const struct harness_gateway *gw, const char *id, const char *who,
                    const char *name, const char *text)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"%s\",\"customer\":{\"name\":\"%s\",\"email\":\"%s\"},"
             "\"body\":\"%s\"}",
             id, name, who, text);
    free(harness_post_new_contact(gw, json));
}

/* Moves everything of who's tickets (and their messages) back by days, closed at closed_days ago.
 */
static void backdate(const char *who, int days, int closed_days)
{
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "WITH t AS (SELECT t.id FROM tickets t JOIN customer_identities i "
             "ON i.customer_id = t.customer_id WHERE i.value = '%s' AND t.status <> 'closed') "
             "UPDATE messages SET created_at = now() - interval '%d days', received_at = now() - "
             "interval '%d days' WHERE ticket_id IN (SELECT id FROM t);"
             "UPDATE tickets SET created_at = now() - interval '%d days', status = 'closed', "
             "resolved_at = now() - interval '%d days', closed_at = now() - interval '%d days' "
             "WHERE id IN (SELECT t.id FROM tickets t JOIN customer_identities i ON i.customer_id "
             "= t.customer_id WHERE i.value = '%s' AND t.status <> 'closed')",
             who, days, days, days, closed_days, closed_days, who);
    harness_pg_exec(pg, sql);
}

static void make_data(void)
{
    struct harness_gateway gw;
    harness_gateway_start(&gw, db.url, NULL);
    /* Alice: one ticket, long closed, with an answered survey. */
    post_email(&gw, "Alice Old <retention-alice@example.test>", "alice-1", "X-Note: ALICE-SUBJ",
               "ALICE-SECRET-1");
    backdate("retention-alice@example.test", 70, 60);
    harness_pg_exec(pg, "INSERT INTO surveys (ticket_id, token_hash, language, created_at, "
                        "expires_at, answered_at, overall, comment) SELECT t.id, '\\x0b', 'en', "
                        "now() - interval '59 days', now() - interval '52 days', now() - "
                        "interval '59 days', 4, 'ALICE-COMMENT' FROM tickets t JOIN "
                        "customer_identities i ON i.customer_id = t.customer_id "
                        "WHERE i.value = 'retention-alice@example.test'");
    harness_pg_exec(pg, "UPDATE tickets SET subject = 'ALICE-SUBJ' WHERE customer_id = (SELECT "
                        "customer_id FROM customer_identities "
                        "WHERE value = 'retention-alice@example.test')");
    /* Bob: an old closed ticket, then a new one. */
    contact(&gw, "bob-1", "retention-bob@example.test", "Bob Both", "BOB-OLD-SECRET");
    backdate("retention-bob@example.test", 70, 60);
    /* Dan: mail from 20 days ago with an attachment's bytes (before any newer message). */
    post_email(&gw, "Dan <retention-dan@example.test>", "dan-1", "X-Trace: DAN-RAW-ONLY",
               "DAN-OLD-MAIL");
    harness_pg_exec(pg, "UPDATE messages SET created_at = now() - interval '20 days', "
                        "received_at = now() - interval '20 days' "
                        "WHERE body LIKE '%DAN-OLD-MAIL%'");
    contact(&gw, "bob-2", "retention-bob@example.test", "Bob Both", "BOB-NEW-TEXT");
    /* Carol: closed five days ago. */
    contact(&gw, "carol-1", "retention-carol@example.test", "Carol", "CAROL-RECENT");
    backdate("retention-carol@example.test", 6, 5);
    post_email(&gw, "Dan <retention-dan@example.test>", "dan-2", "X-Trace: DAN-NEW-RAW",
               "DAN-NEW-MAIL");
    harness_pg_exec(pg, "INSERT INTO attachments (message_id, filename, size_bytes, sha256, "
                        "content) SELECT id, 'a.txt', 16, sha256(body::bytea), CASE WHEN body "
                        "LIKE '%DAN-OLD%' THEN 'DAN-ATTACH-BYTES' ELSE 'DAN-NEW-ATTACH' "
                        "END::bytea FROM messages WHERE body LIKE '%DAN-%-MAIL%'");
    assert_int_equal(harness_gateway_stop(&gw), 0);
}

static int setup(void **state)
{
    (void)state;
    harness_db_create(&db, "retention");
    if (harness_migrate(db.url, NULL, 0) != 0)
        return -1;
    pg = harness_pg(db.url);
    time_t now = time(NULL), start = now - 90 * 86400;
    strftime(as_of, sizeof(as_of), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    strftime(from, sizeof(from), "%Y-%m-%d", gmtime(&start));
    strftime(to, sizeof(to), "%Y-%m-%d", gmtime(&now));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(pg);
    harness_db_drop(&db);
    return 0;
}

/* The period's report as JSON, without its survey comments (personal data that goes). */
static json_t *report(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s report --from %s --to %s --as-of %s "
             "--timezone UTC --format json",
             db.url, INTAKE_BINARY, from, to, as_of);
    FILE *p = popen(cmd, "r");
    json_error_t err;
    json_t *r = json_loadf(p, 0, &err);
    assert_int_equal(pclose(p), 0);
    assert_non_null(r);
    json_t *satisfaction = json_object_get(r, "satisfaction");
    assert_true(json_is_object(satisfaction));
    json_object_del(satisfaction, "comments");
    return r;
}

static void test_retention_on_two_gateways(void **state)
{
    (void)state;
    make_data();
    char *before = dump_check_rows(db.url);
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        if (!dump_check_holds(before, gone[i]))
            fail_msg("the fixture lacks %s", gone[i]);
    free(before);
    json_t *report_before = report();
    /* Every ticket is in the period, and so are the survey answer and its ratings. */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(report_before, "volume"), "tickets")),
        6);

    /* One run is one batch: a batch of one erases one of the two old tickets. */
    harness_pg_text_is(pg,
                       "SELECT intake_retention_run('{\"personal_data_days\": 30, \"batch\": 1}')"
                       "->>'tickets'",
                       "1");

    const char *config = "{\"retention\":{\"personal_data_days\":30,\"raw_mail_days\":10},"
                         "\"escalation\":{\"scan_seconds\":1}}";
    struct harness_gateway one, two;
    harness_gateway_start_config(&one, db.url, config, NULL);
    harness_gateway_start_config(&two, db.url, config, NULL);
    assert_int_equal(harness_pg_wait(pg,
                                     "SELECT count(*) FROM tickets "
                                     "WHERE personal_data_erased_at IS NOT NULL",
                                     2),
                     2);
    assert_int_equal(
        harness_pg_wait(pg, "SELECT count(*) FROM attachments WHERE content IS NULL", 1), 1);
    sleep(2); /* more turns of both: nothing more is due */
    assert_int_equal(harness_gateway_stop(&one), 0);
    assert_int_equal(harness_gateway_stop(&two), 0);

    char *after = dump_check_rows(db.url);
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        if (dump_check_holds(after, gone[i]))
            fail_msg("%s is still in the database after retention", gone[i]);
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (!dump_check_holds(after, kept[i]))
            fail_msg("retention removed %s, which is not due", kept[i]);
    free(after);
    /* Each piece once: Alice erased whole, two tickets, one raw message, one attachment. */
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM audit_log "
                                         "WHERE action = 'retention.erase'"),
                     1);
    harness_pg_text_is(pg,
                       "SELECT concat_ws(',', sum((detail->>'customers')::int), "
                       "sum((detail->>'tickets')::int), sum((detail->>'raw_sources')::int), "
                       "sum((detail->>'attachments')::int)) FROM audit_log "
                       "WHERE action = 'retention.run' AND actor = 'retention'",
                       "1,2,1,1");
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM customers "
                                         "WHERE erased_at IS NOT NULL"),
                     1);
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM message_sources"), 1);
    /* Bob keeps his record and his new ticket. */
    harness_pg_text_is(pg,
                       "SELECT c.name FROM customers c JOIN customer_identities i "
                       "ON i.customer_id = c.id WHERE i.value = 'retention-bob@example.test'",
                       "Bob Both");

    json_t *report_after = report();
    if (!json_equal(report_before, report_after)) {
        char *a = json_dumps(report_before, JSON_COMPACT), *b = json_dumps(report_after, 0);
        fail_msg("the report changed:\n%s\n%s", a, b);
    }
    json_decref(report_before);
    json_decref(report_after);
}

/*
 * What no ticket makes due: Frank's customer record and address outlived
 * his contact (no ticket at all), Grace's identity outlived her only ticket
 * (erased alone long ago), both 60 days old; Heidi's record is as old but
 * she wrote on Ivy's ticket three days ago, and Ivy's open ticket is new;
 * Judy became a customer yesterday with no ticket. A chat session that
 * never became a ticket, begun 60 days ago, holds a visitor's name and
 * address; one begun yesterday and an agent's stream of 60 days stay.
 * Runs of one batch (1): each erases at most one customer, and the walk
 * goes on from where the last stopped until every due one is gone.
 */
static void test_retention_reaches_what_has_no_ticket(void **state)
{
    (void)state;
    struct harness_gateway gw;
    harness_gateway_start(&gw, db.url, NULL);
    contact(&gw, "grace-1", "idle-grace@example.test", "Grace Gone", "GRACE-TEXT");
    contact(&gw, "ivy-1", "idle-ivy@example.test", "Ivy Busy", "IVY-TEXT");
    assert_int_equal(harness_gateway_stop(&gw), 0);
    harness_pg_exec(
        pg,
        "INSERT INTO customers (number, name, created_at, updated_at) VALUES "
        "('C-900001', 'Frank Idle', now() - interval '60 days', now() - interval '60 days'),"
        "('C-900002', 'Heidi Writer', now() - interval '60 days', now() - interval '60 days'),"
        "('C-900003', 'Judy New', now() - interval '1 day', now() - interval '1 day');"
        "INSERT INTO customer_identities (kind, value, customer_id, created_at) "
        "SELECT 'email', lower(split_part(name, ' ', 1)) || '-idle@example.test', id, created_at "
        "FROM customers WHERE number LIKE 'C-9000%';"
        "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, sender_address, "
        "body, created_at, received_at) SELECT t.id, 'in', 'email', 'heidi-on-ivy', "
        "'heidi-idle@example.test', 'HEIDI-NOTE', now() - interval '3 days', "
        "now() - interval '3 days' FROM tickets t JOIN customer_identities i "
        "ON i.customer_id = t.customer_id WHERE i.value = 'idle-ivy@example.test';"
        "INSERT INTO live_sessions (token_hash, visitor, channel, name, email, created_at, "
        "last_seen_at) VALUES ('\\x01', 'v-old', 'chat', 'Visitor Old', "
        "'visitor-old@example.test', now() - interval '60 days', now() - interval '60 days'),"
        "('\\x02', 'v-new', 'chat', 'Visitor New', 'visitor-new@example.test', "
        "now() - interval '1 day', now() - interval '1 day'),"
        "('\\x03', 'agent-stream-x', 'desk', 'Agent Stream', NULL, now() - interval '60 days', "
        "now() - interval '60 days');");
    /* Grace's ticket finished 60 days ago and was erased alone (her record stayed). */
    backdate("idle-grace@example.test", 70, 60);
    harness_pg_exec(pg, "UPDATE customers SET created_at = now() - interval '70 days', "
                        "updated_at = now() - interval '70 days' WHERE name = 'Grace Gone';"
                        "UPDATE customer_identities SET created_at = now() - interval '70 days' "
                        "WHERE value = 'idle-grace@example.test';"
                        "SELECT intake_tickets_erase(ARRAY(SELECT t.id FROM tickets t "
                        "JOIN customers c ON c.id = t.customer_id WHERE c.name = 'Grace Gone'))");
    char *grace = harness_pg_text(pg, "SELECT number FROM customers WHERE name = 'Grace Gone'");
    long erased_before = harness_pg_long(pg, "SELECT count(*) FROM customers "
                                             "WHERE erased_at IS NOT NULL");

    long customers = 0, sessions = 0;
    for (int run = 0; run < 20; run++) {
        char *answer =
            harness_pg_text(pg, "SELECT intake_retention_run('{\"personal_data_days\": 30, "
                                "\"batch\": 1}')::text");
        json_t *a = json_loads(answer, 0, NULL);
        assert_non_null(a);
        long c = (long)json_integer_value(json_object_get(a, "customers"));
        assert_true(c <= 1);
        customers += c;
        sessions += (long)json_integer_value(json_object_get(a, "chat_sessions"));
        json_decref(a);
        free(answer);
    }
    assert_int_equal(customers, 2);
    assert_int_equal(sessions, 1);
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM customers "
                                         "WHERE erased_at IS NOT NULL"),
                     erased_before + 2);

    char *after = dump_check_rows(db.url);
    static const char *const idle_gone[] = {"Frank Idle",  "frank-idle@example.test",
                                            "Grace Gone",  "idle-grace@example.test",
                                            "Visitor Old", "visitor-old@example.test"};
    static const char *const idle_kept[] = {
        "Heidi Writer", "heidi-idle@example.test",   "HEIDI-NOTE",  "Ivy Busy",
        "IVY-TEXT",     "judy-idle@example.test",    "Visitor New", "visitor-new@example.test",
        "Agent Stream", "retention-bob@example.test"};
    for (size_t i = 0; i < sizeof(idle_gone) / sizeof(idle_gone[0]); i++)
        if (dump_check_holds(after, idle_gone[i]))
            fail_msg("%s is still in the database after retention", idle_gone[i]);
    for (size_t i = 0; i < sizeof(idle_kept) / sizeof(idle_kept[0]); i++)
        if (!dump_check_holds(after, idle_kept[i]))
            fail_msg("retention removed %s, which is not due", idle_kept[i]);
    free(after);
    /* Each erased customer is in the trail by number. */
    assert_int_equal(harness_pg_longf(pg,
                                      "SELECT count(*) FROM audit_log WHERE action = "
                                      "'retention.erase' AND subject IN ('C-900001', '%s')",
                                      grace),
                     2);
    free(grace);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention_on_two_gateways),
        cmocka_unit_test(test_retention_reaches_what_has_no_ticket),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
