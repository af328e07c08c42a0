/*
 * The phone channel end to end when events do not come one at a time in
 * order: a hangup before the ring, replays of one event, many copies of a
 * call's events at once, and two workers registering one caller's calls (or
 * one new number's first contacts) at the same moment. Each must end in
 * one call, one ticket, one customer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "phone_env.h"
#include "phone_webhooks.h"

static void test_events_out_of_order_land_correctly(void **state)
{
    struct phone_env *f = *state;
    /* The hangup overtakes the ring and the answer. */
    assert_int_equal(
        phone_env_cti(f, "event=hangup&cause=normalClearing&direction=in&callId=ooo-1&from="
                         "%2B8613866660006&to=%2B861012345678"),
        200);
    assert_int_equal(
        phone_env_cti(f, "event=answer&direction=in&callId=ooo-1&from=%2B8613866660006&to="
                         "%2B861012345678&user%5B%5D=Agent+Li&answeringNumber=801"),
        200);
    assert_int_equal(
        phone_env_cti(f, "event=newCall&direction=in&callId=ooo-1&from=%2B8613866660006&to="
                         "%2B861012345678&user%5B%5D=Agent+Li&user%5B%5D=Agent+Wu"),
        200);
    harness_pg_text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'ooo-1'", "ended");
    assert_int_equal(harness_pg_longf(f->pg, "SELECT events FROM calls WHERE call_id = 'ooo-1'"),
                     3);
    char *ticket = phone_env_ticket_of_call(f->pg, "cti", "ooo-1");
    assert_true(strlen(ticket) > 0);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "WHERE t.number = '%s'",
                         ticket),
        1);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM tickets t JOIN customer_identities i ON "
                                "i.customer_id = t.customer_id WHERE i.value = '+8613866660006'"),
        1);

    /* A late "answered" after "missed" does not revive the call or make a second ticket. */
    assert_int_equal(
        phone_env_native(f,
                         "{\"event_id\":\"ooo-2-missed\",\"call_id\":\"ooo-2\",\"type\":"
                         "\"missed\",\"from\":\"+8613866660007\"}",
                         NULL),
        200);
    assert_int_equal(
        phone_env_native(f,
                         "{\"event_id\":\"ooo-2-ringing\",\"call_id\":\"ooo-2\",\"type\":"
                         "\"ringing\",\"from\":\"+8613866660007\"}",
                         NULL),
        200);
    assert_int_equal(
        phone_env_native(f,
                         "{\"event_id\":\"ooo-2-answered\",\"call_id\":\"ooo-2\",\"type\":"
                         "\"answered\",\"from\":\"+8613866660007\"}",
                         NULL),
        200);
    harness_pg_text_is(f->pg, "SELECT state FROM calls WHERE call_id = 'ooo-2'", "missed");
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM tickets t JOIN customer_identities i ON "
                                "i.customer_id = t.customer_id WHERE i.value = '+8613866660007'"),
        1);
    free(ticket);
}

static void test_replays_store_nothing_twice(void **state)
{
    struct phone_env *f = *state;
    const char *ev = "{\"event_id\":\"dup-1\",\"call_id\":\"n-700\",\"type\":\"missed\","
                     "\"from\":\"+8613877770007\",\"caller_name\":\"Chen Jing\"}";
    char *first = NULL, *again = NULL;
    assert_int_equal(phone_env_native(f, ev, &first), 200);
    for (int i = 0; i < 5; i++) {
        free(again);
        assert_int_equal(phone_env_native(f, ev, &again), 200);
    }
    char *status = harness_json_str(again, "status");
    char *t1 = harness_json_str(first, "ticket"), *t2 = harness_json_str(again, "ticket");
    assert_string_equal(status, "duplicate");
    assert_string_equal(t1, t2);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM call_events WHERE call_id = 'n-700'"), 1);
    assert_int_equal(harness_pg_longf(f->pg,
                                      "SELECT count(*) FROM messages WHERE idempotency_key = "
                                      "'phone:native:dup-1'"),
                     1);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM outbox WHERE kind = 'ack' AND dedupe_key = "
                                "'ack:phone:native:dup-1'"),
        1);
    /* A replayed Twilio status too. */
    const char *busy[] = {"CallSid=CA701", "CallStatus=busy", "From=+8613877770008", NULL};
    assert_int_equal(phone_env_twilio(f, busy), 200);
    assert_int_equal(phone_env_twilio(f, busy), 200);
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM messages m JOIN calls c ON c.ticket_id = "
                                "m.ticket_id WHERE c.call_id = 'CA701'"),
        1);
    free(first);
    free(again);
    free(status);
    free(t1);
    free(t2);
}

struct racer {
    const struct phone_env *f;
    const char *json;
    long status;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    r->status = phone_env_native(r->f, r->json, NULL);
    return NULL;
}

static void test_parallel_copies_and_events_of_one_call_make_one_ticket(void **state)
{
    struct phone_env *f = *state;
    /* Eight copies each of the ring, the answer and the hangup, all at once. */
    const char *events[] = {
        "{\"event_id\":\"par-ring\",\"call_id\":\"n-par\",\"type\":\"ringing\","
        "\"from\":\"+8613818181818\"}",
        "{\"event_id\":\"par-answer\",\"call_id\":\"n-par\",\"type\":\"answered\","
        "\"from\":\"+8613818181818\"}",
        "{\"event_id\":\"par-end\",\"call_id\":\"n-par\",\"type\":\"ended\","
        "\"from\":\"+8613818181818\",\"duration\":95}",
    };
    enum { COPIES = 8, N = 3 * COPIES };
    struct racer racers[N];
    pthread_t threads[N];
    for (int i = 0; i < N; i++) {
        racers[i] = (struct racer){f, events[i % 3], 0};
        pthread_create(&threads[i], NULL, race, &racers[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(racers[i].status, 200);
    }
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM call_events WHERE call_id = 'n-par'"), 3);
    harness_pg_text_is(
        f->pg, "SELECT state || '/' || duration_s FROM calls WHERE call_id = 'n-par'", "ended/95");
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                         "JOIN customer_identities i ON i.customer_id = t.customer_id WHERE "
                         "i.value = '+8613818181818'"),
        1);
}

/*
 * A missed call's registration document, as the gateway builds it for
 * intake_call_event (bench/out/phone-templates.csv has the gateway's own).
 */
static void missed_call_document(char *out, size_t cap, const char *call_id, const char *phone)
{
    snprintf(out, cap,
             "{\"key\":\"phone:native:%s-missed\",\"channel\":\"phone\",\"phone\":\"%s\","
             "\"name\":\"Zhao Lei\",\"subject\":\"Missed call from %s\",\"body\":\"Missed call\","
             "\"queue\":\"general\",\"category\":\"callback\",\"priority\":\"normal\","
             "\"first_response_s\":1800,\"handling_s\":172800,\"resolve_s\":86400,"
             "\"ticket_prefix\":\"SR-\",\"customer_prefix\":\"C-\",\"language_detected\":\"en\","
             "\"external_ref\":\"call:native:%s\",\"call\":{\"provider\":\"native\","
             "\"call_id\":\"%s\",\"kind\":\"missed\",\"direction\":\"in\",\"from\":\"%s\","
             "\"to\":\"+861012345678\",\"cause\":\"no-answer\"}}",
             call_id, phone, phone, call_id, call_id, phone);
}

/*
 * Two workers (or gateways) run sql, whose one parameter is a document, at
 * the same moment: the first has run it and not committed when the second
 * starts. The second must be blocked on a lock until the first commits, or
 * this would not be a race. Returns both answers (malloc'd).
 */
static void two_at_once(const struct phone_env *f, const char *sql, const char *doc_first,
                        const char *doc_second, char **first_answer, char **second_answer)
{
    PGconn *first = harness_pg(f->db.url), *second = harness_pg(f->db.url);
    harness_pg_exec(first, "BEGIN");
    const char *params[] = {doc_first};
    PGresult *r = PQexecParams(first, sql, 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    *first_answer = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);

    params[0] = doc_second;
    assert_int_equal(PQsendQueryParams(second, sql, 1, NULL, params, NULL, NULL, 0), 1);
    long waiting = 0;
    for (int i = 0; i < 100 && !waiting; i++) {
        waiting = harness_pg_longf(f->pg,
                                   "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND "
                                   "wait_event_type = 'Lock'",
                                   PQbackendPID(second));
        if (!waiting)
            usleep(50 * 1000);
    }
    assert_int_equal(waiting, 1);
    harness_pg_exec(first, "COMMIT");

    r = PQgetResult(second);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    *second_answer = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_null(PQgetResult(second));
    PQfinish(first);
    PQfinish(second);
}

/*
 * A caller's second missed call, registered by another worker while the
 * first is uncommitted, waits on the caller's lock and joins the first's
 * ticket (before db/0011 it waited on the number's identity row, then opened
 * a second ticket for a second customer).
 */
static void test_missed_calls_of_one_caller_at_once_on_two_workers_share_a_ticket(void **state)
{
    struct phone_env *f = *state;
    const char *phone = "+8613866660066";
    char doc1[2048], doc2[2048], *ticket, *ticket2;
    missed_call_document(doc1, sizeof(doc1), "race-1", phone);
    missed_call_document(doc2, sizeof(doc2), "race-2", phone);
    two_at_once(f, "SELECT intake_call_event($1::jsonb)->>'ticket'", doc1, doc2, &ticket, &ticket2);
    assert_string_equal(ticket2, ticket);
    /* Both calls on one ticket, of one customer, who owns the number. */
    assert_int_equal(
        harness_pg_longf(f->pg, "SELECT count(*) FROM messages WHERE sender_address = '%s'", phone),
        2);
    assert_int_equal(harness_pg_longf(f->pg,
                                      "SELECT count(DISTINCT t.id) FROM messages m JOIN tickets t "
                                      "ON t.id = m.ticket_id WHERE m.sender_address = '%s'",
                                      phone),
                     1);
    assert_int_equal(harness_pg_longf(f->pg,
                                      "SELECT count(*) FROM customers c WHERE EXISTS (SELECT 1 "
                                      "FROM tickets t JOIN messages m ON m.ticket_id = t.id WHERE "
                                      "t.customer_id = c.id AND m.sender_address = '%s') AND "
                                      "EXISTS (SELECT 1 FROM customer_identities i WHERE "
                                      "i.customer_id = c.id AND i.value = '%s')",
                                      phone, phone),
                     1);
    free(ticket);
    free(ticket2);
}

/* An API contact's document from the number phone, under key, as the gateway registers it. */
static void api_contact_document(char *out, size_t cap, const char *key, const char *phone)
{
    snprintf(out, cap,
             "{\"key\":\"%s\",\"channel\":\"api\",\"phone\":\"%s\",\"subject\":\"Invoice\","
             "\"body\":\"Please send the invoice again.\",\"queue\":\"general\","
             "\"category\":\"general\",\"priority\":\"normal\",\"ticket_prefix\":\"SR-\","
             "\"customer_prefix\":\"C-\",\"first_response_s\":900,\"handling_s\":172800,"
             "\"resolve_s\":86400}",
             key, phone);
}

/*
 * Two first contacts from one new number at once, on two workers or
 * gateways: the second waits for the first and then belongs to the same
 * customer. Before db/0015 it waited on the number's identity row, lost it,
 * and kept a customer record of its own (only e-mail had an adoption rule).
 */
static void test_first_contacts_of_one_new_number_at_once_share_a_customer(void **state)
{
    struct phone_env *f = *state;
    const char *phone = "+8613877770077";
    char doc1[2048], doc2[2048], *customer, *customer2;
    api_contact_document(doc1, sizeof(doc1), "new-number-1", phone);
    api_contact_document(doc2, sizeof(doc2), "new-number-2", phone);
    two_at_once(f, "SELECT intake_register_contact($1::jsonb)->>'customer'", doc1, doc2, &customer,
                &customer2);
    assert_string_equal(customer2, customer);
    assert_int_equal(
        harness_pg_longf(f->pg,
                         "SELECT count(DISTINCT t.customer_id) FROM messages m JOIN "
                         "tickets t ON t.id = m.ticket_id WHERE m.sender_address = '%s'",
                         phone),
        1);
    free(customer);
    free(customer2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_out_of_order_land_correctly),
        cmocka_unit_test(test_replays_store_nothing_twice),
        cmocka_unit_test(test_parallel_copies_and_events_of_one_call_make_one_ticket),
        cmocka_unit_test(test_missed_calls_of_one_caller_at_once_on_two_workers_share_a_ticket),
        cmocka_unit_test(test_first_contacts_of_one_new_number_at_once_share_a_customer),
    };
    return cmocka_run_group_tests_name("phone races", tests, phone_env_setup, phone_env_teardown);
}
