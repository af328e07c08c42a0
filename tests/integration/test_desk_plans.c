/*
 * The desk's queries read the rows they return, not the desk's history.
 * A database filled by bench/desk-data.sql (20,000 tickets, most of them
 * finished, with messages, surveys and breaches) stands for a desk that
 * has run for years; each query runs in a transaction of its own and
 * pg_stat_xact_user_tables says how many ticket rows it read (sequentially
 * or fetched through an index). A query that loses its index reads
 * thousands and fails here, whichever plan PostgreSQL falls back to. The
 * same for the periodic passes (the SLA scanner and the outbox's claim)
 * and for every count the desk shows or routes by (a customer's open
 * tickets in the ticket view, an agent's open tickets, the follow-ups
 * still open, the acknowledgements an address got in the last hour): each
 * reads open work or the last hour, never the history behind it.
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

#define TICKETS 20000
#define PAGE    20
/*
 * A page's rows and the ones its filter skips on the way: PostgreSQL may
 * walk an ordered index past a filter that keeps one row in ten rather than
 * take a narrower index (0.4 ms for a page at 2,000,000 tickets). Reading
 * all open work (about 2,000 rows here) or the history (18,000) fails.
 */
#define MAX_READ (30 * PAGE)

static struct harness_db db;
static PGconn *pg;

static int setup(void **state)
{
    (void)state;
    harness_db_create(&db, "desk_plans");
    char out[4096];
    if (harness_migrate(db.url, out, sizeof(out)) != 0) {
        fprintf(stderr, "migrate: %s\n", out);
        return -1;
    }
    const char *scripts = getenv("INTAKE_TEST_SCRIPTS");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "psql '%s' -X -q -v ON_ERROR_STOP=1 -v tickets=%d -f '%s/../bench/desk-data.sql' "
             ">/dev/null && psql '%s' -X -q -c 'ANALYZE' >/dev/null",
             db.url, TICKETS, scripts ? scripts : "scripts", db.url);
    if (system(cmd) != 0) {
        fprintf(stderr, "loading bench/desk-data.sql failed\n");
        return -1;
    }
    pg = harness_pg(db.url);
    /* The first plain agent has work of their own: more than two pages. */
    harness_pg_exec(pg, "UPDATE tickets SET assignee_id = (SELECT min(id) FROM agents "
                        "WHERE role = 'agent') WHERE id IN (SELECT id FROM tickets "
                        "WHERE status IN ('new', 'open', 'pending') ORDER BY id LIMIT 60);"
                        "ANALYZE tickets");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(pg);
    harness_db_drop(&db);
    return 0;
}

/* Rows of table this session has read and not yet reported to the
 * statistics (PostgreSQL reports them at most once a second). */
static long pending_reads(const char *table)
{
    char stats[256];
    snprintf(stats, sizeof(stats),
             "SELECT coalesce(sum(seq_tup_read + idx_tup_fetch), 0) "
             "FROM pg_stat_xact_user_tables WHERE relname = '%s'",
             table);
    return harness_pg_long(pg, stats);
}

/* Runs setup (NULL for none), then sql, in a transaction of its own
 * (rolled back) and returns how many rows of table sql read; *answer (may
 * be NULL) gets sql's first value. */
static long rows_read_after(const char *table, const char *setup, const char *sql, char **answer)
{
    harness_pg_exec(pg, "BEGIN");
    if (setup)
        harness_pg_exec(pg, setup);
    long before = pending_reads(table);
    char *value = harness_pg_text(pg, sql);
    long n = pending_reads(table) - before;
    harness_pg_exec(pg, "ROLLBACK");
    if (answer)
        *answer = value;
    else
        free(value);
    return n;
}

static long rows_read(const char *table, const char *sql, char **answer)
{
    return rows_read_after(table, NULL, sql, answer);
}

/* The list as the agent agent_sql names (a row of agents, or NULL::agents
 * for the API token) with the filters of d; checks it returned a full page
 * and read at most MAX_READ tickets. Returns the page's "next". */
static char *check_list(const char *what, const char *agent_sql, const char *d)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT r->>'next' || ' ' || jsonb_array_length(r->'tickets') FROM ("
             "SELECT intake_desk_list(%s, '%s'::jsonb) -> 'body' AS r) x",
             agent_sql, d);
    char *answer = NULL;
    long n = rows_read("tickets", sql, &answer);
    char *space = answer ? strrchr(answer, ' ') : NULL;
    if (!space || atoi(space + 1) != PAGE)
        fail_msg("%s: not a full page: %s", what, answer ? answer : "(null)");
    if (n > MAX_READ)
        fail_msg("%s: read %ld tickets for a page of %d", what, n, PAGE);
    *space = '\0';
    return answer;
}

#define API   "NULL::agents"
#define AGENT "(SELECT a FROM agents a WHERE role = 'agent' ORDER BY id LIMIT 1)"
#define LEAD  "(SELECT a FROM agents a WHERE role = 'lead' ORDER BY id LIMIT 1)"

static void test_every_list_reads_about_a_page(void **state)
{
    (void)state;
    static const struct {
        const char *what, *agent, *d;
    } lists[] = {
        {"open work (API)", API, "{\"limit\": 20}"},
        {"an agent's open work", AGENT, "{\"limit\": 20}"},
        {"a lead's open work", LEAD, "{\"limit\": 20}"},
        {"one queue", LEAD, "{\"limit\": 20, \"queue\": \"technical\"}"},
        {"a priority", API, "{\"limit\": 20, \"priority\": \"normal\"}"},
        {"assignee=me", AGENT, "{\"limit\": 20, \"assignee\": \"me\"}"},
        {"unassigned", API, "{\"limit\": 20, \"assignee\": \"none\"}"},
        {"overdue", API, "{\"limit\": 20, \"overdue\": true}"},
        {"status=open", API, "{\"limit\": 20, \"status\": [\"open\"]}"},
        {"resolved", API, "{\"limit\": 20, \"status\": [\"resolved\"]}"},
        {"closed", LEAD, "{\"limit\": 20, \"status\": [\"closed\"]}"},
        {"an agent's finished work", AGENT,
         "{\"limit\": 20, \"status\": [\"resolved\", \"closed\"]}"},
        {"finished, one queue", API,
         "{\"limit\": 20, \"status\": [\"resolved\", \"closed\"], \"queue\": \"orders\"}"},
        {"assignee=me, finished", AGENT,
         "{\"limit\": 20, \"status\": [\"resolved\", \"closed\"], \"assignee\": \"me\"}"},
    };
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        char *next = check_list(lists[i].what, lists[i].agent, lists[i].d);
        /* The page after reads about a page too. */
        char d[512];
        snprintf(d, sizeof(d), "%.*s, \"after\": \"%s\"}", (int)strlen(lists[i].d) - 1, lists[i].d,
                 next);
        char what[128];
        snprintf(what, sizeof(what), "%s, page 2", lists[i].what);
        free(check_list(what, lists[i].agent, d));
        free(next);
    }
}

/*
 * A status within open work when most of it is of another: a quarter of
 * the history reopened, every open ticket new but the 25 of each queue due
 * last, which are open. Walking all
 * open work in due order for open tickets read the new ones first (169,649
 * at 2,000,000 tickets); each status is an arm of its own (0077's indexes).
 */
static void test_a_status_of_open_work_reads_about_a_page(void **state)
{
    (void)state;
    static const char *setup =
        "UPDATE tickets SET status = 'new', resolved_at = NULL, closed_at = NULL "
        "WHERE status IN ('open', 'pending') OR id % 4 = 0;"
        "UPDATE tickets SET status = 'open' WHERE id IN (SELECT id FROM (SELECT t.id, "
        "row_number() OVER (PARTITION BY t.queue ORDER BY intake_ticket_due(t) DESC, t.id DESC) "
        "AS r FROM tickets t WHERE t.status = 'new') x WHERE r <= 25)";
    static const struct {
        const char *what, *agent, *d;
    } lists[] = {
        {"status=open", API, "{\"limit\": 20, \"status\": [\"open\"]}"},
        {"status=open, one queue", API,
         "{\"limit\": 20, \"status\": [\"open\"], \"queue\": \"technical\"}"},
        {"an agent's open tickets", AGENT, "{\"limit\": 20, \"status\": [\"open\"]}"},
        {"open and pending, overdue or not", LEAD,
         "{\"limit\": 20, \"status\": [\"open\", \"pending\"]}"},
    };
    long open_work =
        harness_pg_long(pg, "SELECT count(*) FROM tickets "
                            "WHERE status IN ('new', 'open', 'pending') OR id % 4 = 0");
    assert_true(open_work > 5 * MAX_READ);
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        char sql[512], *answer = NULL;
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FILTER (WHERE b->>'status' = 'open') || ' ' || count(*) "
                 "FROM jsonb_array_elements(intake_desk_list(%s, '%s'::jsonb) -> 'body' "
                 "-> 'tickets') b",
                 lists[i].agent, lists[i].d);
        long read = rows_read_after("tickets", setup, sql, &answer);
        char expected[32];
        snprintf(expected, sizeof(expected), "%d %d", PAGE, PAGE);
        if (!answer || strcmp(answer, expected) != 0)
            fail_msg("%s: open tickets and tickets on the page: %s, not %s", lists[i].what,
                     answer ? answer : "(null)", expected);
        free(answer);
        if (read > MAX_READ)
            fail_msg("%s: read %ld tickets for a page of %d (%ld open)", lists[i].what, read, PAGE,
                     open_work);
    }
}

/*
 * A status within finished work when few are of it: every resolved ticket
 * closed but the five that finished first. The walk of finished work,
 * newest first, for resolved tickets read the desk's whole history before
 * it came to them; each status is an arm of its own (resolved: 0079's
 * index). The statistics are taken again, as autovacuum does once 2 % of
 * the tickets have changed (0074).
 */
static void test_a_status_of_finished_work_reads_what_it_returns(void **state)
{
    (void)state;
    static const char *setup =
        "UPDATE tickets SET status = 'closed', closed_at = resolved_at "
        "WHERE status = 'resolved' AND id NOT IN (SELECT id FROM tickets "
        "WHERE status = 'resolved' ORDER BY intake_ticket_finished(tickets), id LIMIT 5);"
        "ANALYZE tickets";
    static const struct {
        const char *what, *agent, *d;
        long expected; /* tickets on the page; -1: up to five */
    } lists[] = {
        {"status=resolved", API, "{\"limit\": 20, \"status\": [\"resolved\"]}", 5},
        {"a lead's resolved", LEAD, "{\"limit\": 20, \"status\": [\"resolved\"]}", 5},
        {"an agent's resolved", AGENT, "{\"limit\": 20, \"status\": [\"resolved\"]}", -1},
        {"an agent's own resolved", AGENT,
         "{\"limit\": 20, \"status\": [\"resolved\"], \"assignee\": \"me\"}", -1},
    };
    long finished = harness_pg_long(pg, "SELECT count(*) FROM tickets "
                                        "WHERE status IN ('resolved', 'closed')");
    assert_true(finished > 10 * MAX_READ);
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        char sql[512], *answer = NULL;
        snprintf(sql, sizeof(sql),
                 "SELECT jsonb_array_length(intake_desk_list(%s, '%s') -> 'body' -> 'tickets')",
                 lists[i].agent, lists[i].d);
        long read = rows_read_after("tickets", setup, sql, &answer);
        long n = answer ? atol(answer) : -1;
        free(answer);
        if (lists[i].expected >= 0)
            assert_int_equal(n, lists[i].expected);
        else
            assert_true(n >= 0 && n <= 5);
        if (read > 30)
            fail_msg("%s: read %ld tickets for %ld (%ld finished)", lists[i].what, read, n,
                     finished);
    }
}

/* A ticket with 200 messages: the view reads its messages and little else. */
static void test_the_ticket_view_reads_its_own_rows(void **state)
{
    (void)state;
    long id = harness_pg_long(pg, "SELECT id FROM tickets WHERE status = 'open' LIMIT 1");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, body) "
             "SELECT %ld, 'in', 'email', 'plans-' || g, 'message ' || g "
             "FROM generate_series(1, 200) g",
             id);
    harness_pg_exec(pg, sql);
    long total = harness_pg_longf(pg, "SELECT count(*) FROM messages WHERE ticket_id = %ld", id);
    assert_true(total >= 200);
    snprintf(sql, sizeof(sql),
             "SELECT jsonb_array_length(intake_desk_show(t) -> 'body' -> 'messages') "
             "FROM tickets t WHERE id = %ld",
             id);
    char *count = NULL;
    long messages = rows_read("messages", sql, &count);
    assert_int_equal(atol(count), total);
    /* A bitmap scan is counted twice: the index's fetches and the heap's. */
    if (messages > 2 * total + 10)
        fail_msg("the view read %ld messages for a ticket of %ld", messages, total);
    long tickets = rows_read("tickets", sql, NULL);
    if (tickets > 10)
        fail_msg("the view read %ld tickets", tickets);
    free(count);
    /* Of the rest, the ticket's own rows and its customer's, with a
     * follow-up for each of 2,000 other tickets (followups had no index on
     * ticket_id until 0078: the view read all of them). */
    static const char *tables[] = {"followups", "surveys", "ticket_events", "customer_identities"};
    char setup[512];
    snprintf(setup, sizeof(setup),
             "INSERT INTO followups (ticket_id, queue, reason, due_at, closed_at) "
             "SELECT id, 'complaints', 'plans', now(), now() FROM tickets "
             "WHERE id <> %ld ORDER BY id LIMIT 2000; ANALYZE followups",
             id);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        long read = rows_read_after(tables[i], setup, sql, NULL);
        if (read > 50)
            fail_msg("the view read %ld rows of %s", read, tables[i]);
    }
}

/*
 * The SLA scanner reads the tickets that are due. 50 open tickets have run
 * out at level 3 long ago (breach recorded), 3 have just run out; every
 * other deadline is ahead. The first six passes (10 tickets a pass)
 * record the 3 breaches; the next reads (almost) nothing: the level-3
 * tickets are not read again every pass.
 */
static void test_the_sla_scan_reads_what_is_due(void **state)
{
    (void)state;
    harness_pg_exec(pg, "UPDATE tickets SET first_response_due_at = now() + interval '1 day', "
                        "handling_due_at = now() + interval '1 day', "
                        "resolution_due_at = now() + interval '2 days' "
                        "WHERE status IN ('new', 'open', 'pending');"
                        "CREATE TEMP TABLE worn AS SELECT id FROM tickets "
                        "WHERE status IN ('new', 'open') AND first_responded_at IS NULL "
                        "ORDER BY id LIMIT 53;"
                        "DELETE FROM sla_breaches WHERE ticket_id IN (SELECT id FROM worn);"
                        "UPDATE tickets SET escalation_level = 3, "
                        "first_response_due_at = now() - interval '1 hour' "
                        "WHERE id IN (SELECT id FROM worn ORDER BY id LIMIT 50);"
                        "INSERT INTO sla_breaches (ticket_id, clock, level, due_at) "
                        "SELECT id, 'first_response', 3, now() - interval '1 hour' "
                        "FROM (SELECT id FROM worn ORDER BY id LIMIT 50) w "
                        "ON CONFLICT DO NOTHING;"
                        "UPDATE tickets SET escalation_level = 1, "
                        "first_response_due_at = now() - interval '10 minutes' "
                        "WHERE id IN (SELECT id FROM worn ORDER BY id OFFSET 50)");
    /* A pass takes 10 due tickets, the most overdue first (the level-3 ones,
     * moved on without a notice), and says it left some; the sixth takes the
     * rest and says it did not. */
    for (int pass = 0; pass < 5; pass++)
        harness_pg_text_is(pg,
                           "SELECT s->>'more' || ' ' || jsonb_array_length(s->'breaches') "
                           "FROM intake_sla_scan('{}') s",
                           "true 0");
    harness_pg_text_is(pg,
                       "SELECT s->>'more' || ' ' || jsonb_array_length(s->'breaches') "
                       "FROM intake_sla_scan('{}') s",
                       "false 3");
    long read = rows_read("tickets", "SELECT intake_sla_scan('{}') -> 'breaches'", NULL);
    if (read > 5)
        fail_msg("a pass with nothing due read %ld tickets", read);
    harness_pg_text_is(pg, "SELECT jsonb_array_length(intake_sla_scan('{}') -> 'breaches')::text",
                       "0");
}

/* Routing reads no ticket: each agent's open work is a number on the agent
 * (db/migrations/0075) that triggers keep, and after this database was
 * loaded and its tickets reassigned the numbers still agree with the
 * tickets. Tickets are vacuumed at 2 % dead (0074) for the desk's lists. */
static void test_routing_reads_no_tickets(void **state)
{
    (void)state;
    harness_pg_text_is(pg,
                       "SELECT array_to_string(reloptions, ',') FROM pg_class "
                       "WHERE relname = 'tickets' AND relkind = 'r'",
                       "fillfactor=85,autovacuum_vacuum_scale_factor=0.02,"
                       "autovacuum_analyze_scale_factor=0.02");
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM intake_agent_load_drift()"), 0);
    assert_true(harness_pg_long(pg, "SELECT max(open_tickets) FROM agents") >= 60);
    char *picked = NULL;
    long read = rows_read("tickets",
                          "SELECT intake_pick_agent((SELECT q.queue FROM agent_queues q "
                          "JOIN agents a ON a.id = q.agent_id WHERE a.online "
                          "AND a.open_tickets < a.capacity LIMIT 1))",
                          &picked);
    if (!picked || !*picked)
        fail_msg("routing found no agent for a queue with a free online agent");
    free(picked);
    if (read != 0)
        fail_msg("routing a ticket read %ld tickets", read);
}

/* The phone channel's sweep of calls whose end never came reads the
 * unfinished calls that are due (calls_unfinished), not the calls that
 * ended: 20,000 finished calls, 30 unfinished of which 12 silent for an
 * hour, a sweep of at most 10. */
static void test_the_stale_call_sweep_reads_what_is_due(void **state)
{
    (void)state;
    harness_pg_exec(pg, "INSERT INTO calls (provider, call_id, state, started_at, ended_at, "
                        "last_event_at) SELECT 'twilio', 'done-' || g, 'ended', now() - "
                        "interval '2 days', now() - interval '2 days', now() - interval '2 days' "
                        "FROM generate_series(1, 20000) g;"
                        "INSERT INTO calls (provider, call_id, state, last_event_at) "
                        "SELECT 'twilio', 'live-' || g, 'ringing', now() - CASE WHEN g <= 12 "
                        "THEN interval '1 hour' ELSE interval '10 seconds' END "
                        "FROM generate_series(1, 30) g; ANALYZE calls");
    char *answer = NULL;
    long read = rows_read("calls",
                          "SELECT jsonb_array_length(intake_stale_calls('{\"older_than_s\": "
                          "600, \"limit\": 10}') -> 'calls')",
                          &answer);
    assert_non_null(answer);
    assert_string_equal(answer, "10");
    free(answer);
    if (read > 12)
        fail_msg("the stale-call sweep read %ld calls for 10", read);
}

/* The overdue filter when few are overdue: three open tickets of a queue
 * past a deadline, the rest of its open work due tomorrow. The walk in due
 * order stops at the first ticket not yet due; it read the whole queue. */
static void test_overdue_reads_what_is_overdue(void **state)
{
    (void)state;
    long open = harness_pg_long(pg, "SELECT count(*) FROM tickets WHERE queue = 'technical' "
                                    "AND status IN ('new', 'open', 'pending')");
    assert_true(open >= 100);
    char *answer = NULL;
    long read =
        rows_read_after("tickets",
                        "UPDATE tickets SET first_response_due_at = now() + interval '1 day', "
                        "handling_due_at = now() + interval '1 day', resolution_due_at = now() "
                        "+ interval '2 days' WHERE queue = 'technical' AND status IN ('new', "
                        "'open', 'pending');"
                        "UPDATE tickets SET resolution_due_at = now() - interval '1 hour' "
                        "WHERE id IN (SELECT id FROM tickets WHERE queue = 'technical' AND "
                        "status IN ('new', 'open', 'pending') AND resolved_at IS NULL "
                        "ORDER BY id LIMIT 3)",
                        "SELECT jsonb_array_length(intake_desk_list(NULL::agents, "
                        "'{\"queue\": \"technical\", \"overdue\": true}') -> 'body' -> 'tickets')",
                        &answer);
    long n = answer ? atol(answer) : -1;
    free(answer);
    assert_int_equal(n, 3);
    if (read > 10)
        fail_msg("overdue=true read %ld tickets for 3 (of %ld open in the queue)", read, open);
}

/* A priority that none of the open work has, in one queue and across the
 * desk: an empty page, read from the index of open work by queue and
 * priority (0076; across the desk an arm per queue), not by walking open
 * work for tickets of that priority. */
static void test_a_filter_matching_nothing_reads_nothing(void **state)
{
    (void)state;
    static const char *filters[] = {"{\"queue\": \"technical\", \"priority\": \"urgent\"}",
                                    "{\"priority\": \"urgent\"}"};
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        char sql[256], *answer = NULL;
        snprintf(sql, sizeof(sql),
                 "SELECT jsonb_array_length(intake_desk_list(NULL::agents, '%s') "
                 "-> 'body' -> 'tickets')",
                 filters[i]);
        long read = rows_read_after("tickets",
                                    "UPDATE tickets SET priority = 'normal' "
                                    "WHERE status IN ('new', 'open', 'pending') "
                                    "AND priority = 'urgent'",
                                    sql, &answer);
        long n = answer ? atol(answer) : -1;
        free(answer);
        assert_int_equal(n, 0);
        if (read > 0)
            fail_msg("%s read %ld tickets for an empty page", filters[i], read);
    }
}

/* Small SQL functions every registration calls are inlined into the
 * statement that calls them: one that PostgreSQL must call as a function
 * costs an executor start-up each time (intake_customer_lock_key did:
 * 35-40 us a registration, because text || bigint is only STABLE). */
static void test_registration_helpers_are_inlined(void **state)
{
    (void)state;
    const char *calls[] = {"intake_customer_lock_key(g)", "intake_number('SR-', g)"};
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "EXPLAIN (VERBOSE, COSTS OFF) SELECT %s FROM generate_series(1, 2) g", calls[i]);
        PGresult *res = PQexec(pg, sql);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(strchr(calls[i], '(') - calls[i]), calls[i]);
        for (int r = 0; r < PQntuples(res); r++)
            if (strstr(PQgetvalue(res, r, 0), name))
                fail_msg("%s is called, not inlined: %s", name, PQgetvalue(res, r, 0));
        PQclear(res);
    }
}

/* The dispatcher's claim with nothing due reads nothing of the outbox's
 * history (an acknowledgement per ticket, all sent long ago). */
static void test_the_outbox_claim_reads_what_is_due(void **state)
{
    (void)state;
    assert_true(harness_pg_long(pg, "SELECT count(*) FROM outbox") >= TICKETS);
    char *claimed = NULL;
    long read = rows_read("outbox", "SELECT count(*) FROM intake_outbox_claim(30, 50)", &claimed);
    assert_string_equal(claimed, "0");
    free(claimed);
    if (read > 5)
        fail_msg("a claim with nothing due read %ld outbox rows", read);
}

/*
 * An erase reads the customer's outbox rows, not the outbox (20,000 rows of
 * history: an acknowledgement per ticket). The customer also wrote on
 * another customer's ticket, where an acknowledgement to them waits, and
 * a report's mail (no ticket) went to someone else: the first is erased
 * and skipped, the second and the other customer's own row stay. The same
 * for retention's erase of one ticket. Each in a transaction rolled back.
 */
static void test_an_erase_reads_the_customers_outbox_rows(void **state)
{
    (void)state;
    long customer = harness_pg_long(pg, "SELECT customer_id FROM tickets GROUP BY 1 "
                                        "HAVING count(*) >= 2 ORDER BY 1 LIMIT 1");
    long other =
        harness_pg_longf(pg, "SELECT min(id) FROM tickets WHERE customer_id <> %ld", customer);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, "
             "sender_address, body) VALUES (%ld, 'in', 'email', 'plans-other-ticket', "
             "'c%ld@example.com', 'on another ticket');"
             "INSERT INTO outbox (kind, channel, ticket_id, dedupe_key, payload) VALUES "
             "('ack', 'email', %ld, 'plans-ack-other', "
             "'{\"reply_handle\": \"c%ld@example.com\"}'),"
             "('mail', NULL, NULL, 'plans-report', '{\"to\": \"boss@example.com\"}')",
             other, customer, other, customer);
    harness_pg_exec(pg, sql);
    assert_true(harness_pg_long(pg, "SELECT count(*) FROM outbox") >= TICKETS);

    harness_pg_exec(pg, "BEGIN");
    long before = pending_reads("outbox");
    snprintf(sql, sizeof(sql), "SELECT intake_customer_erase_id(%ld, 'plans')->>'tickets'",
             customer);
    char *tickets = harness_pg_text(pg, sql);
    long read = pending_reads("outbox") - before;
    harness_pg_text_is(pg,
                       "SELECT string_agg(dedupe_key || '=' || status || ':' "
                       "|| (payload ? 'erased'), ',' ORDER BY dedupe_key) FROM outbox "
                       "WHERE dedupe_key IN ('plans-ack-other', 'plans-report')",
                       "plans-ack-other=skipped:true,plans-report=pending:false");
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM outbox WHERE ticket_id IN (SELECT id FROM tickets "
             "WHERE customer_id = %ld) AND NOT payload ? 'erased'",
             customer);
    assert_int_equal(harness_pg_long(pg, sql), 0);
    harness_pg_exec(pg, "ROLLBACK");
    assert_true(atol(tickets) >= 2);
    /* Their tickets' rows, the other ticket's two and the report's; a bitmap
     * scan counts a row twice (the index's fetch and the heap's). */
    if (read > 4 * (atol(tickets) + 3) + 10)
        fail_msg("erasing a customer of %s tickets read %ld outbox rows", tickets, read);
    free(tickets);

    snprintf(sql, sizeof(sql), "SELECT intake_tickets_erase(ARRAY[%ld])", other);
    read = rows_read("outbox", sql, NULL);
    if (read > 10)
        fail_msg("erasing one ticket read %ld outbox rows", read);
}

/* A count query's answer and the rows of table it read; fails past limit. */
static long count_reading(const char *what, const char *table, const char *sql, long limit)
{
    char *answer = NULL;
    long n = rows_read(table, sql, &answer);
    if (n > limit)
        fail_msg("%s: read %ld %s rows (at most %ld)", what, n, table, limit);
    long value = answer ? atol(answer) : -1;
    free(answer);
    return value;
}

static void test_counts_read_open_work_only(void **state)
{
    (void)state;
    /* A customer with one open ticket and 500 finished ones. */
    long ticket = harness_pg_long(pg, "SELECT min(id) FROM tickets WHERE status = 'open'");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE tickets SET customer_id = (SELECT customer_id FROM tickets WHERE id = %ld) "
             "WHERE id IN (SELECT id FROM tickets WHERE status IN ('resolved', 'closed') "
             "ORDER BY id LIMIT 500); ANALYZE tickets",
             ticket);
    harness_pg_exec(pg, sql);
    long open = harness_pg_longf(pg,
                                 "SELECT count(*) FROM tickets WHERE customer_id = (SELECT "
                                 "customer_id FROM tickets WHERE id = %ld) AND status IN "
                                 "('new', 'open', 'pending')",
                                 ticket);
    snprintf(sql, sizeof(sql),
             "SELECT intake_desk_show(t) -> 'body' -> 'customer' ->> 'open_tickets' "
             "FROM tickets t WHERE id = %ld",
             ticket);
    assert_int_equal(count_reading("the view's open tickets", "tickets", sql, 10 + 2 * open), open);

    /* An agent with 60 open tickets (setup) and 2,000 finished ones. */
    harness_pg_exec(pg, "UPDATE tickets SET assignee_id = (SELECT min(id) FROM agents "
                        "WHERE role = 'agent') WHERE id IN (SELECT id FROM tickets WHERE status "
                        "IN ('resolved', 'closed') ORDER BY id DESC LIMIT 2000); ANALYZE tickets");
    long held = harness_pg_long(pg, "SELECT count(*) FROM tickets WHERE assignee_id = (SELECT "
                                    "min(id) FROM agents WHERE role = 'agent') AND status IN "
                                    "('new', 'open', 'pending')");
    assert_true(held >= 60);
    assert_int_equal(count_reading("an agent's open tickets (GET /v1/agent/me)", "tickets",
                                   "SELECT intake_agent_brief(a) ->> 'open_tickets' FROM "
                                   "agents a WHERE id = (SELECT min(id) FROM agents "
                                   "WHERE role = 'agent')",
                                   0),
                     held);
    /* What routing reads of an agent's load: no ticket at all. */
    assert_int_equal(count_reading("an agent's load", "tickets",
                                   "SELECT intake_agent_load((SELECT min(id) FROM agents "
                                   "WHERE role = 'agent'))",
                                   0),
                     held);

    /* Follow-ups still open: 3 of them among 1,000 closed. */
    harness_pg_exec(pg, "INSERT INTO followups (ticket_id, queue, reason, due_at, created_at, "
                        "closed_at, closed_by, outcome) SELECT 1 + g % 100, 'complaints', "
                        "'a rating of 3 or less', now() - interval '30 days', "
                        "now() - interval '33 days', CASE WHEN g > 3 THEN now() - interval "
                        "'31 days' END, CASE WHEN g > 3 THEN 'Agent 1' END, CASE WHEN g > 3 "
                        "THEN 'called' END FROM generate_series(1, 1000) g; ANALYZE followups");
    long still_open = harness_pg_long(pg, "SELECT count(*) FROM followups WHERE closed_at IS NULL");
    assert_true(still_open >= 3);
    assert_int_equal(count_reading("the open follow-ups", "followups",
                                   "SELECT jsonb_array_length(intake_desk('{\"action\": "
                                   "\"followups\", \"api\": true}') -> 'body' -> 'followups')",
                                   2 * still_open + 10),
                     still_open);

    /* Acknowledgements to one address in the last hour: 3 of 1,003. */
    harness_pg_exec(pg,
                    "INSERT INTO outbox (kind, channel, ticket_id, dedupe_key, payload, status, "
                    "attempts, next_attempt_at, created_at, sent_at) SELECT 'ack', 'email', 1, "
                    "'plans-ack-' || g, '{\"reply_handle\": \"busy@example.com\"}', 'sent', "
                    "1, now(), now(), CASE WHEN g <= 3 THEN now() - interval '1 minute' * g "
                    "ELSE now() - interval '2 hours' - interval '1 minute' * g END "
                    "FROM generate_series(1, 1003) g; ANALYZE outbox");
    assert_int_equal(count_reading("acknowledgements in the last hour", "outbox",
                                   "SELECT intake_acks_sent_last_hour('busy@example.com')", 10),
                     3);
}

/*
 * Handing out waiting work reads what it hands out. A quarter of the
 * desk's tickets open again, every open ticket waits (over 5,000), and an
 * agent of every queue comes online with five free slots: the hand-out
 * reads about five tickets a queue (a sort of every waiting ticket of the
 * agent's queues, as it did before db/migrations/0070, reads them all), and
 * the five are the most urgent, then oldest, of all that wait. In a
 * transaction rolled back.
 */
static void test_assign_waiting_reads_what_it_hands_out(void **state)
{
    (void)state;
    harness_pg_exec(pg, "BEGIN;"
                        "UPDATE tickets SET status = 'open', closed_at = NULL, resolved_at = NULL "
                        "WHERE id % 4 = 0;"
                        "UPDATE tickets SET assignee_id = NULL "
                        "WHERE status IN ('new', 'open', 'pending');"
                        "INSERT INTO agents (name, email, capacity, online, presence) "
                        "VALUES ('Plans', 'plans@desk.example', 5, true, 'online');"
                        "INSERT INTO agent_queues (agent_id, queue) "
                        "SELECT a.id, q.name FROM agents a, queues q "
                        "WHERE a.email = 'plans@desk.example'");
    long waiting = harness_pg_long(pg, "SELECT count(*) FROM tickets WHERE assignee_id IS NULL "
                                       "AND status IN ('new', 'open', 'pending')");
    assert_true(waiting >= 1000);
    char *expected =
        harness_pg_text(pg, "SELECT string_agg(id::text, ' ' ORDER BY rank, created_at, id) FROM ("
                            "SELECT id, created_at, CASE priority WHEN 'urgent' THEN 0 "
                            "WHEN 'important' THEN 1 ELSE 2 END AS rank FROM tickets "
                            "WHERE assignee_id IS NULL AND status IN ('new', 'open', 'pending') "
                            "ORDER BY 3, 2, 1 LIMIT 5) w");
    long before = pending_reads("tickets");
    harness_pg_text_is(pg,
                       "SELECT intake_assign_waiting(id)::text FROM agents "
                       "WHERE email = 'plans@desk.example'",
                       "5");
    long read = pending_reads("tickets") - before;
    char *given = harness_pg_text(
        pg, "SELECT string_agg(t.id::text, ' ' ORDER BY CASE t.priority WHEN 'urgent' THEN 0 "
            "WHEN 'important' THEN 1 ELSE 2 END, t.created_at, t.id) FROM tickets t "
            "JOIN agents a ON a.id = t.assignee_id WHERE a.email = 'plans@desk.example'");
    harness_pg_exec(pg, "ROLLBACK");
    assert_string_equal(given, expected);
    free(given);
    free(expected);
    /* Five a queue and the five handed out (read again to be updated). */
    if (read > 60)
        fail_msg("handing out 5 of %ld waiting tickets read %ld tickets", waiting, read);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_list_reads_about_a_page),
        cmocka_unit_test(test_a_status_of_open_work_reads_about_a_page),
        cmocka_unit_test(test_a_status_of_finished_work_reads_what_it_returns),
        cmocka_unit_test(test_the_ticket_view_reads_its_own_rows),
        cmocka_unit_test(test_the_sla_scan_reads_what_is_due),
        cmocka_unit_test(test_routing_reads_no_tickets),
        cmocka_unit_test(test_overdue_reads_what_is_overdue),
        cmocka_unit_test(test_a_filter_matching_nothing_reads_nothing),
        cmocka_unit_test(test_registration_helpers_are_inlined),
        cmocka_unit_test(test_the_outbox_claim_reads_what_is_due),
        cmocka_unit_test(test_the_stale_call_sweep_reads_what_is_due),
        cmocka_unit_test(test_an_erase_reads_the_customers_outbox_rows),
        cmocka_unit_test(test_counts_read_open_work_only),
        cmocka_unit_test(test_assign_waiting_reads_what_it_hands_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
