/*
 * Registration through the real gateway and database: new and returning
 * customers, identities across channels, threading, classification,
 * deadlines, routing to agents, and the outbox rows written with them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static int setup(void **state)
{
    static struct harness_env env;
    *state = &env;
    return harness_env_setup(&env, "registration", NULL);
}

static int teardown(void **state)
{
    return harness_env_teardown(*state);
}

/* POSTs and expects status; returns the response body (caller frees). */
__attribute__((format(printf, 3, 4))) static char *post(struct harness_env *f, long expect,
                                                        const char *fmt, ...)
{
    char json[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    struct harness_response r;
    harness_post_contact(&f->gw, json, &r);
    if (r.status != expect)
        fail_msg("expected %ld, got %ld: %s", expect, r.status, r.body);
    return r.body;
}

__attribute__((format(printf, 2, 3))) static long sqlf(struct harness_env *f, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return harness_pg_long(f->pg, sql);
}

static char *field(const char *json, const char *key)
{
    char *v = harness_json_str(json, key);
    assert_non_null(v);
    return v;
}

static void test_new_customer_gets_ticket_message_events_and_outbox(void **state)
{
    struct harness_env *f = *state;
    char *body = post(f, 201,
                      "{\"external_id\":\"new-1\",\"customer\":{\"name\":\"Ada Lovelace\","
                      "\"email\":\"Ada@Example.COM\",\"company\":\"Analytical\"},"
                      "\"subject\":\"Question\",\"body\":\"Hello there.\","
                      "\"callback_url\":\"http://127.0.0.1:9/ack\"}");
    char *ticket = field(body, "ticket"), *customer = field(body, "customer");
    assert_true(harness_json_bool(body, "new_ticket"));
    assert_false(harness_json_bool(body, "duplicate"));
    assert_int_equal(strncmp(ticket, "SR-", 3), 0);
    assert_int_equal(strlen(ticket), 9);
    assert_int_equal(strncmp(customer, "C-", 2), 0);

    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM customers c JOIN customer_identities i ON "
                          "i.customer_id = c.id WHERE c.number = '%s' AND i.kind = 'email' AND "
                          "i.value = 'ada@example.com' AND c.name = 'Ada Lovelace' AND "
                          "c.company = 'Analytical'",
                          customer),
                     1);
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM tickets t JOIN messages m ON m.ticket_id = t.id "
                          "WHERE t.number = '%s' AND t.status = 'new' AND t.channel = 'api' AND "
                          "m.body = 'Hello there.' AND m.direction = 'in' AND "
                          "m.idempotency_key = 'api:new-1'",
                          ticket),
                     1);
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = "
                          "e.ticket_id WHERE t.number = '%s' AND e.kind = 'created'",
                          ticket),
                     1);
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:api:new-1' AND "
                          "kind = 'ack' AND payload->>'ticket' = '%s'",
                          ticket),
                     1);
    free(ticket);
    free(customer);
    free(body);
}

static void test_returning_customer_by_email_and_phone(void **state)
{
    struct harness_env *f = *state;
    char *a = post(f, 201,
                   "{\"external_id\":\"ret-1\",\"customer\":{\"email\":\"grace@example.org\"},"
                   "\"body\":\"first\"}");
    char *b = post(f, 201,
                   "{\"external_id\":\"ret-2\",\"customer\":{\"email\":\"GRACE@example.org\","
                   "\"phone\":\"+1 (415) 555-0100\"},\"body\":\"second\"}");
    /* Calling later from the phone number alone is still the same person. */
    char *c = post(f, 201,
                   "{\"external_id\":\"ret-3\",\"customer\":{\"phone\":\"+14155550100\"},"
                   "\"body\":\"third\"}");
    char *ca = field(a, "customer"), *cb = field(b, "customer"), *cc = field(c, "customer");
    assert_string_equal(ca, cb);
    assert_string_equal(ca, cc);
    char *ta = field(a, "ticket"), *tb = field(b, "ticket");
    assert_string_not_equal(ta, tb); /* no ticket named: a new request */
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM customer_identities i JOIN customers c ON c.id = "
                          "i.customer_id WHERE c.number = '%s'",
                          ca),
                     2);
    assert_int_equal(sqlf(f, "SELECT count(*) FROM customer_identities WHERE value = "
                             "'+14155550100'"),
                     1);
    free(ca), free(cb), free(cc), free(ta), free(tb), free(a), free(b), free(c);
}

static void test_threading_by_ticket_reference(void **state)
{
    struct harness_env *f = *state;
    char *a = post(f, 201,
                   "{\"external_id\":\"thr-1\",\"customer\":{\"email\":\"tom@example.net\"},"
                   "\"body\":\"my invoice is wrong\"}");
    char *ticket = field(a, "ticket");
    char *b = post(f, 201,
                   "{\"external_id\":\"thr-2\",\"customer\":{\"email\":\"tom@example.net\"},"
                   "\"ticket\":\"%s\",\"body\":\"here is the invoice number\"}",
                   ticket);
    char *tb = field(b, "ticket");
    assert_string_equal(ticket, tb);
    assert_false(harness_json_bool(b, "new_ticket"));
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                          "WHERE t.number = '%s'",
                          ticket),
                     2);
    /* The customer is not acknowledged twice (agent notifications: test_outbox). */
    assert_int_equal(sqlf(f, "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:api:thr-2'"), 0);

    /* Someone else naming Tom's ticket gets a ticket of their own. */
    char *c = post(f, 201,
                   "{\"external_id\":\"thr-3\",\"customer\":{\"email\":\"eve@example.net\"},"
                   "\"ticket\":\"%s\",\"body\":\"let me in\"}",
                   ticket);
    char *tc = field(c, "ticket");
    assert_string_not_equal(ticket, tc);
    assert_true(harness_json_bool(c, "new_ticket"));

    /* A resolved ticket is reopened by a reply; a closed one starts a new ticket. */
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE tickets SET status = 'resolved' WHERE number = '%s'",
             ticket);
    harness_pg_exec(f->pg, sql);
    char *d = post(f, 201,
                   "{\"external_id\":\"thr-4\",\"customer\":{\"email\":\"tom@example.net\"},"
                   "\"ticket\":\"%s\",\"body\":\"it happened again\","
                   "\"callback_url\":\"http://127.0.0.1:9/ack\"}",
                   ticket);
    char *td = field(d, "ticket");
    assert_string_equal(ticket, td);
    assert_int_equal(
        sqlf(f, "SELECT count(*) FROM tickets WHERE number = '%s' AND status = 'open'", ticket), 1);
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = "
                          "e.ticket_id WHERE t.number = '%s' AND e.kind = 'reopened'",
                          ticket),
                     1);
    assert_int_equal(sqlf(f, "SELECT count(*) FROM outbox WHERE dedupe_key = 'ack:api:thr-4'"), 1);

    snprintf(sql, sizeof(sql), "UPDATE tickets SET status = 'closed' WHERE number = '%s'", ticket);
    harness_pg_exec(f->pg, sql);
    char *e = post(f, 201,
                   "{\"external_id\":\"thr-5\",\"customer\":{\"email\":\"tom@example.net\"},"
                   "\"ticket\":\"%s\",\"body\":\"one more thing\"}",
                   ticket);
    char *te = field(e, "ticket");
    assert_string_not_equal(ticket, te);
    assert_true(harness_json_bool(e, "new_ticket"));
    free(ticket), free(tb), free(tc), free(td), free(te);
    free(a), free(b), free(c), free(d), free(e);
}

struct expectation {
    const char *id, *subject, *body, *category, *priority, *queue;
    long first_response_s, handling_s;
};

static void test_classification_and_deadlines_per_priority(void **state)
{
    struct harness_env *f = *state;
    static const struct expectation cases[] = {
        {"cls-urgent", "网站宕机", "我们的系统完全瘫痪，登录报错，紧急！",
         "aftersale.fault.software", "urgent", "technical", 300, 7200},
        {"cls-important", "Slow delivery", "My order delivery is very slow, please hurry", "order",
         "important", "orders", 900, 86400},
        {"cls-normal", "Pricing", "What is the price of the pro plan?", "presale", "normal",
         "presales", 900, 172800},
        {"cls-complaint", "投诉", "我要投诉你们的客服态度", "complaint", "important", "complaints",
         900, 86400},
        {"cls-general", "Hi", "Just saying hello", "general", "normal", "general", 900, 172800},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct expectation *x = &cases[i];
        char *b = post(f, 201,
                       "{\"external_id\":\"%s\",\"customer\":{\"email\":\"%s@example.com\"},"
                       "\"subject\":\"%s\",\"body\":\"%s\"}",
                       x->id, x->id, x->subject, x->body);
        char *cat = field(b, "category"), *pri = field(b, "priority"), *q = field(b, "queue");
        assert_string_equal(cat, x->category);
        assert_string_equal(pri, x->priority);
        assert_string_equal(q, x->queue);
        char *ticket = field(b, "ticket");
        assert_int_equal(
            sqlf(f,
                 "SELECT extract(epoch FROM t.first_response_due_at - m.received_at)::int FROM "
                 "tickets t JOIN messages m ON m.ticket_id = t.id WHERE t.number = '%s'",
                 ticket),
            x->first_response_s);
        assert_int_equal(sqlf(f,
                              "SELECT extract(epoch FROM t.handling_due_at - "
                              "m.received_at)::int FROM tickets t JOIN messages m ON "
                              "m.ticket_id = t.id WHERE t.number = '%s'",
                              ticket),
                         x->handling_s);
        assert_int_equal(sqlf(f,
                              "SELECT extract(epoch FROM t.resolution_due_at - "
                              "m.received_at)::int FROM tickets t JOIN messages m ON "
                              "m.ticket_id = t.id WHERE t.number = '%s'",
                              ticket),
                         86400);
        free(cat), free(pri), free(q), free(ticket), free(b);
    }
}

static void test_language_follows_text_then_preference(void **state)
{
    struct harness_env *f = *state;
    char *a = post(f, 201,
                   "{\"external_id\":\"lang-1\",\"customer\":{\"email\":\"li@example.cn\"},"
                   "\"body\":\"你好，我想咨询一下\"}");
    char *la = field(a, "language");
    assert_string_equal(la, "zh");
    /* The customer says they prefer English ... */
    char *b = post(f, 201,
                   "{\"external_id\":\"lang-2\",\"customer\":{\"email\":\"li@example.cn\"},"
                   "\"language\":\"en\",\"body\":\"hello\"}");
    char *lb = field(b, "language");
    assert_string_equal(lb, "en");
    /* ... and what a customer writes beats what they once asked for: the preference follows. */
    char *c = post(f, 201,
                   "{\"external_id\":\"lang-3\",\"customer\":{\"email\":\"wang@example.cn\"},"
                   "\"language\":\"zh\",\"body\":\"你好\"}");
    char *d = post(f, 201,
                   "{\"external_id\":\"lang-4\",\"customer\":{\"email\":\"wang@example.cn\"},"
                   "\"body\":\"short english note\"}");
    char *ld = field(d, "language");
    assert_string_equal(ld, "en");
    free(la), free(lb), free(ld), free(a), free(b), free(c), free(d);
}

static void test_routing_to_online_agent_with_fewest_open_tickets(void **state)
{
    struct harness_env *f = *state;
    harness_pg_exec(f->pg, "INSERT INTO agents (name, online) VALUES ('Ann', true), "
                           "('Bob', true), ('Off', false)");
    harness_pg_exec(f->pg, "INSERT INTO agent_queues SELECT id, 'orders' FROM agents");
    for (int i = 0; i < 4; i++) {
        char *b = post(f, 201,
                       "{\"external_id\":\"route-%d\",\"customer\":{\"email\":\"r%d@example.com\"},"
                       "\"body\":\"where is my order?\"}",
                       i, i);
        free(b);
    }
    assert_int_equal(sqlf(f, "SELECT count(*) FROM tickets t JOIN agents a ON a.id = "
                             "t.assignee_id WHERE a.name = 'Ann'"),
                     2);
    assert_int_equal(sqlf(f, "SELECT count(*) FROM tickets t JOIN agents a ON a.id = "
                             "t.assignee_id WHERE a.name = 'Bob'"),
                     2);
    assert_int_equal(sqlf(f, "SELECT count(*) FROM tickets t JOIN agents a ON a.id = "
                             "t.assignee_id WHERE a.name = 'Off'"),
                     0);
    /* A queue with nobody online leaves the ticket unassigned, in its queue. */
    char *b = post(f, 201,
                   "{\"external_id\":\"route-x\",\"customer\":{\"email\":\"rx@example.com\"},"
                   "\"body\":\"what does it cost?\"}");
    char *t = field(b, "ticket");
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id IS "
                          "NULL AND queue = 'presales'",
                          t),
                     1);
    free(t), free(b);
}

/* The number of open tickets kept on each agent (what routing reads,
 * db/migrations/0075) follows every change of a ticket, whoever makes it:
 * a registration, a status change, a transfer through the desk's function,
 * a reply reopening a resolved ticket, an operator's INSERT, UPDATE or
 * DELETE; and capacity counts it. Runs after the routing test (Ann and
 * Bob hold two tickets each of queue orders). */
#define LOAD  "SELECT open_tickets FROM agents WHERE name = '%s'"
#define DRIFT "SELECT count(*) FROM intake_agent_load_drift()"
static void test_agent_load_follows_every_change(void **state)
{
    struct harness_env *f = *state;
    assert_int_equal(sqlf(f, LOAD, "Ann"), 2);
    assert_int_equal(sqlf(f, LOAD, "Bob"), 2);
    assert_int_equal(harness_pg_long(f->pg, DRIFT), 0);

    /* Ann resolves one: one fewer; Bob takes Ann's other: 0 and 3 (with
     * the earlier tests' unassigned work closed, nothing waits that a
     * transfer would hand back to Ann). */
    harness_pg_exec(f->pg, "UPDATE tickets SET status = 'closed' WHERE assignee_id IS NULL");
    harness_pg_exec(f->pg, "UPDATE tickets SET status = 'resolved', resolved_at = now() "
                           "WHERE id = (SELECT min(t.id) FROM tickets t JOIN agents a "
                           "ON a.id = t.assignee_id WHERE a.name = 'Ann')");
    assert_int_equal(sqlf(f, LOAD, "Ann"), 1);
    harness_pg_exec(f->pg, "SELECT intake_ticket_assign(t, (SELECT id FROM agents WHERE name = "
                           "'Bob'), 'test', 'transfer') FROM tickets t WHERE id = (SELECT "
                           "t.id FROM tickets t JOIN agents a ON a.id = t.assignee_id "
                           "WHERE a.name = 'Ann' AND t.status <> 'resolved')");
    assert_int_equal(sqlf(f, LOAD, "Ann"), 0);
    assert_int_equal(sqlf(f, LOAD, "Bob"), 3);
    assert_int_equal(harness_pg_long(f->pg, DRIFT), 0);

    /* The customer writes again on the resolved ticket: reopened, Ann's again. */
    char *number = harness_pg_text(f->pg, "SELECT t.number FROM tickets t JOIN agents a ON "
                                          "a.id = t.assignee_id WHERE a.name = 'Ann'");
    char *email = harness_pg_text(f->pg, "SELECT i.value FROM tickets t JOIN "
                                         "customer_identities i ON i.customer_id = "
                                         "t.customer_id AND i.kind = 'email' JOIN agents a ON "
                                         "a.id = t.assignee_id WHERE a.name = 'Ann'");
    free(post(f, 201,
              "{\"external_id\":\"load-reopen\",\"customer\":{\"email\":\"%s\"},"
              "\"ticket\":\"%s\",\"body\":\"it broke again\"}",
              email, number));
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM tickets WHERE number = '%s' AND status = "
                          "'open'",
                          number),
                     1);
    assert_int_equal(sqlf(f, LOAD, "Ann"), 1);
    free(number), free(email);

    /* Full agents get nothing: Bob at capacity, Ann's capacity lowered to
     * what she holds; the next contact waits unassigned. */
    harness_pg_exec(f->pg, "UPDATE agents SET capacity = open_tickets WHERE name IN ('Ann', "
                           "'Bob')");
    char *b = post(f, 201,
                   "{\"external_id\":\"load-full\",\"customer\":{\"email\":"
                   "\"full@example.com\"},\"body\":\"where is my order?\"}");
    char *t = field(b, "ticket");
    assert_int_equal(sqlf(f,
                          "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id "
                          "IS NULL",
                          t),
                     1);
    free(t), free(b);
    harness_pg_exec(f->pg, "UPDATE agents SET capacity = DEFAULT");

    /* An operator's INSERT and DELETE. */
    harness_pg_exec(f->pg, "INSERT INTO tickets (number, customer_id, channel, category, "
                           "priority, queue, assignee_id, language, first_response_due_at, "
                           "handling_due_at, resolution_due_at) SELECT 'LOAD-1', customer_id, "
                           "channel, category, priority, queue, (SELECT id FROM agents WHERE "
                           "name = 'Bob'), language, now(), now(), now() FROM tickets LIMIT 1");
    assert_int_equal(sqlf(f, LOAD, "Bob"), 4);
    harness_pg_exec(f->pg, "DELETE FROM tickets WHERE number = 'LOAD-1'");
    assert_int_equal(sqlf(f, LOAD, "Bob"), 3);
    assert_int_equal(harness_pg_long(f->pg, DRIFT), 0);
}

/* A value from /metrics; the line must be there. */
static double metric(struct harness_env *f, const char *name)
{
    double v = harness_metric(&f->gw, name);
    assert_true(v >= 0);
    return v;
}

/* /metrics times each registration from its hand-over to its commit's answer. */
static void test_metrics_time_every_answered_registration(void **state)
{
    struct harness_env *f = *state;
    double count = metric(f, "intake_registration_seconds_count");
    double sum = metric(f, "intake_registration_seconds_sum");
    double inf = metric(f, "intake_registration_seconds_bucket{le=\"+Inf\"}");
    const char *doc = "{\"external_id\":\"metrics-1\",\"customer\":{\"email\":"
                      "\"m@example.com\"},\"body\":\"timed\"}";
    free(post(f, 201, "%s", doc));
    free(post(f, 200, "%s", doc)); /* the repeat is answered by the database too */
    assert_true(metric(f, "intake_registration_seconds_count") == count + 2);
    assert_true(metric(f, "intake_registration_seconds_bucket{le=\"+Inf\"}") == inf + 2);
    /* Seconds, measured from the hand-over: not from the clock's origin. */
    double took = metric(f, "intake_registration_seconds_sum") - sum;
    assert_true(took > 0 && took < 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_customer_gets_ticket_message_events_and_outbox),
        cmocka_unit_test(test_returning_customer_by_email_and_phone),
        cmocka_unit_test(test_threading_by_ticket_reference),
        cmocka_unit_test(test_classification_and_deadlines_per_priority),
        cmocka_unit_test(test_language_follows_text_then_preference),
        cmocka_unit_test(test_routing_to_online_agent_with_fewest_open_tickets),
        cmocka_unit_test(test_agent_load_follows_every_change),
        cmocka_unit_test(test_metrics_time_every_answered_registration),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
