/*
 * A batch of call events applied together (intake_call_event_many, db/0013:
 * runs of distinct calls, two statements a run) must leave exactly the rows
 * that the same events leave one at a time (intake_call_event, the
 * reference). The same stream goes into two databases, one way each, and
 * every answer and every table's rows are compared. The stream mixes what
 * phone systems send: repeat callers, events late or twice, hangups without
 * a duration, voicemail, media after the end, callbacks to waiting customers,
 * withheld numbers, and batches with one call several times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N_EVENTS   600
#define N_CALLS    150
#define N_CALLERS  12
#define DOC_CHARS  1400
#define BATCH_MAX  24
#define OUR_NUMBER "+861012345678"

static unsigned long long rng_state = 0x2545F4914F6CDD1DULL;

static unsigned next_random(unsigned below)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % below);
}

/* The kinds an event may have, and the extra fields some carry. */
static const char *const kinds[] = {"ringing",   "answered",   "ended",     "missed", "voicemail",
                                    "ringing",   "answered",   "ended",     "ended",  "missed",
                                    "recording", "transcript", "forwarded", "ended"};

static void event_document(char *out, size_t cap, int call, const char *kind, int variant, int at)
{
    /* Call 0 mod 7 is outbound (a callback), 0 mod 11 has no caller's number. */
    int outbound = call % 7 == 0, withheld = call % 11 == 0;
    char caller[24];
    snprintf(caller, sizeof(caller), "+86138000%05d", 100 + call % N_CALLERS);
    char extra[256] = "";
    if (!strcmp(kind, "ended") && variant % 3)
        snprintf(extra, sizeof(extra), ",\"duration\":%d", 30 + variant);
    else if (!strcmp(kind, "voicemail") || !strcmp(kind, "transcript"))
        snprintf(extra, sizeof(extra), ",\"transcript\":\"Please call me back %d\"", variant);
    else if (!strcmp(kind, "recording"))
        snprintf(extra, sizeof(extra), ",\"recording_url\":\"https://rec.example/%d\"", call);
    else if (!strcmp(kind, "missed"))
        snprintf(extra, sizeof(extra), ",\"cause\":\"%s\"", variant % 2 ? "busy" : "no-answer");
    const char *from = outbound ? OUR_NUMBER : withheld ? NULL : caller;
    const char *to = outbound ? caller : OUR_NUMBER;
    const char *phone = outbound ? caller : from;
    char from_field[48] = "", phone_field[48] = "";
    if (from)
        snprintf(from_field, sizeof(from_field), ",\"from\":\"%s\"", from);
    if (phone)
        snprintf(phone_field, sizeof(phone_field), "\"phone\":\"%s\",", phone);
    /* Media events often come without a direction. */
    const char *direction = !strcmp(kind, "recording") || !strcmp(kind, "transcript") ? ""
                            : outbound ? ",\"direction\":\"out\""
                                       : ",\"direction\":\"in\"";
    snprintf(out, cap,
             "{\"key\":\"phone:native:c%d-%s-%d\",\"channel\":\"phone\",%s\"name\":\"Caller %d\","
             "\"subject\":\"Call c%d\",\"body\":\"Call c%d: %s\",\"queue\":\"general\","
             "\"category\":\"callback\",\"priority\":\"normal\",\"first_response_s\":1800,"
             "\"handling_s\":172800,\"resolve_s\":86400,\"ticket_prefix\":\"SR-\","
             "\"customer_prefix\":\"C-\",\"language_detected\":\"en\","
             "\"call\":{\"provider\":\"native\",\"call_id\":\"c%d\",\"kind\":\"%s\","
             "\"to\":\"%s\",\"at\":%d%s%s%s}}",
             call, kind, variant, phone_field, call % N_CALLERS, call, call, kind, call, kind, to,
             1795000000 + at, from_field, direction, extra);
}

/* The stream: events of calls that overlap in time, some twice, some late. */
static char **make_stream(void)
{
    char **docs = calloc(N_EVENTS, sizeof(*docs));
    int at = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        docs[i] = malloc(DOC_CHARS);
        if (i > 0 && next_random(8) == 0) { /* a resend of an earlier event */
            snprintf(docs[i], DOC_CHARS, "%s", docs[next_random((unsigned)i)]);
            continue;
        }
        /* Calls come and go: mostly among the last few, sometimes an old one. */
        int base = i * N_CALLS / N_EVENTS;
        int call = next_random(6) ? base + (int)next_random(4) : (int)next_random(N_CALLS);
        const char *kind = kinds[next_random(sizeof(kinds) / sizeof(kinds[0]))];
        event_document(docs[i], DOC_CHARS, call, kind, (int)next_random(5), at += 7);
    }
    return docs;
}

/* The call id of a document, e.g. "c12". */
static void call_of(const char *doc, char *out, size_t cap)
{
    const char *id = strstr(doc, "\"call_id\":\"") + 11;
    snprintf(out, cap, "%.*s", (int)(strchr(id, '"') - id), id);
}

/* Whether docs[first .. first + n - 1] has one call more than once. */
static bool has_a_call_twice(char **docs, int first, int n)
{
    for (int i = first; i < first + n; i++)
        for (int j = i + 1; j < first + n; j++) {
            char a[16], b[16];
            call_of(docs[i], a, sizeof(a));
            call_of(docs[j], b, sizeof(b));
            if (!strcmp(a, b))
                return true;
        }
    return false;
}

/* Every table a call event writes, as sorted text, without clock-given columns. */
static const char *const digests[] = {
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (provider, call_id, direction, "
    "from_number, to_number, caller_name, state, cause, started_at, answered_at, ended_at, "
    "duration_s, recording_url, transcript, ticket_id, events)::text AS x FROM calls) s",
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (event_key, provider, call_id, "
    "kind)::text AS x FROM call_events) s",
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (id, number, customer_id, status, "
    "channel, subject, summary, category, priority, queue, language, first_responded_at)::text "
    "AS x FROM tickets) s",
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (id, ticket_id, direction, channel, "
    "idempotency_key, external_ref, sender_name, sender_address, subject, body, "
    "received_at)::text AS x FROM messages) s",
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (id, number, name)::text AS x FROM "
    "customers) s",
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (kind, value, customer_id)::text AS x "
    "FROM customer_identities) s",
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (ticket_id, kind, detail)::text AS x "
    "FROM ticket_events) s",
    "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT (kind, channel, ticket_id, message_id, "
    "dedupe_key, payload)::text AS x FROM outbox) s",
};

static void test_a_batch_leaves_the_rows_of_its_events_one_at_a_time(void **state)
{
    (void)state;
    char **docs = make_stream();
    struct harness_db one_db, batch_db;
    harness_db_create(&one_db, "calls_one_at_a_time");
    harness_db_create(&batch_db, "calls_in_batches");
    assert_int_equal(harness_migrate(one_db.url, NULL, 0), 0);
    assert_int_equal(harness_migrate(batch_db.url, NULL, 0), 0);
    PGconn *one = harness_pg(one_db.url), *batch = harness_pg(batch_db.url);

    char **one_answers = calloc(N_EVENTS, sizeof(char *));
    for (int i = 0; i < N_EVENTS; i++) {
        const char *params[] = {docs[i]};
        PGresult *r = PQexecParams(one, "SELECT intake_call_event($1::jsonb)::text", 1, NULL,
                                   params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("event %d: %s", i, PQresultErrorMessage(r));
        one_answers[i] = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
    }

    /* Batches of 1 to BATCH_MAX events, each one transaction, as a worker sends them. */
    int runs_with_a_call_twice = 0;
    for (int first = 0; first < N_EVENTS;) {
        int n = 1 + (int)next_random(BATCH_MAX);
        if (first + n > N_EVENTS)
            n = N_EVENTS - first;
        size_t len = 3;
        for (int i = first; i < first + n; i++)
            len += strlen(docs[i]) + 1;
        char *array = malloc(len), *p = array;
        *p++ = '[';
        for (int i = first; i < first + n; i++)
            p += sprintf(p, "%s%s", i > first ? "," : "", docs[i]);
        strcpy(p, "]");
        const char *params[] = {array};
        PGresult *r = PQexecParams(batch, "SELECT x::text FROM intake_call_event_many($1::jsonb) x",
                                   1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("batch at %d: %s", first, PQresultErrorMessage(r));
        assert_int_equal(PQntuples(r), n);
        for (int i = 0; i < n; i++) {
            const char *got = PQgetvalue(r, i, 0);
            if (strcmp(got, one_answers[first + i]))
                fail_msg("event %d: one at a time %s, in a batch %s", first + i,
                         one_answers[first + i], got);
        }
        PQclear(r);
        /* Count the batches that had to split into runs (one call twice). */
        runs_with_a_call_twice += has_a_call_twice(docs, first, n);
        free(array);
        first += n;
    }
    /* The stream is meant to test the split: it must have happened. */
    assert_true(runs_with_a_call_twice >= 10);

    for (size_t t = 0; t < sizeof(digests) / sizeof(digests[0]); t++) {
        char *a = harness_pg_text(one, digests[t]), *b = harness_pg_text(batch, digests[t]);
        if (strcmp(a, b))
            fail_msg("rows differ for: %s", digests[t]);
        free(a);
        free(b);
    }
    /* And the stream did what it is for: tickets, joins, callbacks, media, duplicates. */
    assert_true(harness_pg_long(batch, "SELECT count(*) FROM tickets") >= 5);
    assert_true(harness_pg_long(batch, "SELECT count(*) FROM messages") >
                harness_pg_long(batch, "SELECT count(*) FROM tickets"));
    assert_true(harness_pg_long(batch, "SELECT count(*) FROM ticket_events "
                                       "WHERE kind = 'called_back'") >= 1);
    assert_true(harness_pg_long(batch, "SELECT count(*) FROM messages "
                                       "WHERE idempotency_key LIKE '%-recording-%'") >= 1);
    assert_true(harness_pg_long(batch, "SELECT count(*) FROM calls WHERE from_number IS NULL "
                                       "AND direction = 'in'") >= 1);

    for (int i = 0; i < N_EVENTS; i++) {
        free(docs[i]);
        free(one_answers[i]);
    }
    free(docs);
    free(one_answers);
    PQfinish(one);
    PQfinish(batch);
    harness_db_drop(&one_db);
    harness_db_drop(&batch_db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_batch_leaves_the_rows_of_its_events_one_at_a_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
