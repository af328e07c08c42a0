/*
 * The desk end to end, the agents' live streams: resuming after the last
 * event seen, typing both ways across gateways and never stored, presence
 * counted over every gateway's streams (a gateway killed outright stops
 * renewing its leases), streams ended when their token is replaced or the
 * agent disabled, and a stream refused while the database is away.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "desk_env.h"

static void test_stream_resumes_after_the_last_event_seen(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_resume", NULL);
    char ann[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann,
                       sizeof(ann));
    struct ws_client *s = desk_env_stream(&f, ann, 0, NULL);
    char *t1 = desk_env_contact(&f, "r1", "c1@x.test", "the app crashes");
    desk_env_expect_event(s, "ticket.assigned", t1);
    ws_free(s);
    /* Closing the stream took Ann offline; online again (say, on another gateway). */
    assert_int_equal(
        harness_pg_wait(f.pg, "SELECT count(*) FROM agents WHERE presence = 'offline'", 1), 1);
    harness_pg_exec(f.pg, "UPDATE agents SET presence = 'online', online = true");
    char *t2 = desk_env_contact(&f, "r2", "c2@x.test", "the app crashes too");
    assert_int_equal(
        harness_pg_wait(f.pg, "SELECT last_seq FROM live_sessions WHERE channel = 'desk'", 2), 2);
    /* Reconnect after event 1: exactly event 2 comes, not 1 again. */
    s = desk_env_stream(&f, ann, 1, NULL);
    char *ev = ws_recv(s, DESK_WAIT_MS);
    assert_non_null(ev);
    assert_non_null(strstr(ev, "\"seq\":2"));
    assert_non_null(strstr(ev, t2));
    free(ev);
    assert_null(ws_recv(s, 500));
    /* A bad token closes with 4001. */
    struct ws_client *bad = ws_connect(f.gw.port, "/v1/agent/stream", DESK_PROTOCOL, NULL);
    assert_true(ws_send(bad, "{\"type\":\"hello\",\"token\":\"not-a-token\"}"));
    assert_int_equal(ws_wait_close(bad, DESK_WAIT_MS, NULL, 0), 4001);
    ws_free(bad);
    ws_free(s);
    free(t1), free(t2);
    desk_env_stop(&f);
}

/* A chat customer on the gateway at port who has written once; *ticket (malloc'd) is theirs. */
static struct ws_client *chat_customer(int port, char **ticket)
{
    struct ws_client *c = ws_connect(port, "/v1/chat", "intake-chat.v1", "http://shop.example");
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"en\"}"));
    free(ws_recv_type(c, "welcome", DESK_WAIT_MS));
    assert_true(ws_send(c, "{\"type\":\"message\",\"client_id\":\"m1\",\"text\":\"Hello?\"}"));
    char *ack = ws_recv_type(c, "ack", DESK_WAIT_MS);
    assert_non_null(ack);
    *ticket = harness_json_str(ack, "ticket");
    assert_non_null(*ticket);
    free(ack);
    return c;
}

/* The agent types on ticket; the chat customer hears it, unnumbered. */
static void agent_types(struct ws_client *agent, const char *ticket, struct ws_client *customer)
{
    char typing[128];
    snprintf(typing, sizeof(typing), "{\"type\":\"typing\",\"ticket\":\"%s\"}", ticket);
    assert_true(ws_send(agent, typing));
    char *heard = ws_recv_type(customer, "typing", DESK_WAIT_MS);
    assert_non_null(heard);
    assert_non_null(strstr(heard, "\"from\":\"agent\""));
    assert_null(strstr(heard, "\"seq\""));
    free(heard);
}

static void test_typing_reaches_the_other_side_across_gateways_unstored(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_typing", NULL);
    char ann[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann,
                       sizeof(ann));
    struct harness_gateway other;
    harness_gateway_start_config(
        &other, f.db.url,
        "{\"channels\":{\"chat\":{\"allowed_origins\":[\"http://shop.example\"]}}}", NULL);
    struct ws_client *agent = desk_env_stream(&f, ann, 0, NULL);
    char *ticket;
    struct ws_client *chat = chat_customer(other.port, &ticket);
    desk_env_expect_event(agent, "ticket.assigned", ticket);

    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    char *heard = ws_recv_type(agent, "typing", DESK_WAIT_MS);
    assert_non_null(heard);
    assert_non_null(strstr(heard, "\"from\":\"customer\""));
    assert_non_null(strstr(heard, ticket));
    assert_null(strstr(heard, "\"seq\""));
    free(heard);
    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    assert_null(ws_recv_type(agent, "typing", 1000));

    /* A second customer, on a ticket of their own. */
    char *ticket2;
    struct ws_client *chat2 = chat_customer(other.port, &ticket2);
    assert_string_not_equal(ticket, ticket2);

    agent_types(agent, ticket, chat);
    /* Straight on to the other customer's ticket: heard at once, then not again so soon. */
    agent_types(agent, ticket2, chat2);
    char typing[128];
    snprintf(typing, sizeof(typing), "{\"type\":\"typing\",\"ticket\":\"%s\"}", ticket2);
    assert_true(ws_send(agent, typing));
    assert_null(ws_recv_type(chat2, "typing", 1000));
    assert_null(ws_recv_type(chat, "typing", 100));
    free(ticket2);
    ws_free(chat2);
    /*
     * The announcing connections are cut: a signal may be lost with them
     * (dropped, not delayed), and the next one gets through on a new one.
     */
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(pg_terminate_backend(pid)) FROM "
                                            "pg_stat_activity WHERE application_name = "
                                            "'intake-announce' AND datname = current_database()"),
                     2);
    usleep(2100 * 1000);
    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    usleep(2100 * 1000);
    assert_true(ws_send(chat, "{\"type\":\"typing\"}"));
    heard = ws_recv_type(agent, "typing", DESK_WAIT_MS);
    assert_non_null(heard);
    assert_non_null(strstr(heard, "\"from\":\"customer\""));
    free(heard);

    assert_true(ws_send(agent, "{\"type\":\"typing\",\"ticket\":\"SR-1 OR 1=1\"}"));
    char *error = ws_recv_type(agent, "error", DESK_WAIT_MS);
    assert_non_null(error);
    assert_non_null(strstr(error, "invalid_field"));
    free(error);

    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM session_events WHERE "
                                            "event->>'type' = 'typing'"),
                     0);
    free(ticket);
    ws_free(chat);
    ws_free(agent);
    assert_int_equal(harness_gateway_stop(&other), 0);
    desk_env_stop(&f);
}

/*
 * Presence counts the agent's streams on every gateway (db/0016): closing a
 * tab on one gateway leaves the agent online while another is open there
 * or elsewhere; a gateway killed outright stops renewing its streams, and
 * the sweep of the other gateway's poller takes its agents offline after
 * the lease; an open stream whose row was swept comes back by itself.
 */
static void test_presence_follows_streams_on_every_gateway(void **state)
{
    (void)state;
    const char *quick = "\"agents\":{\"stream_lease_seconds\":3},"
                        "\"escalation\":{\"scan_seconds\":1}";
    struct desk_env f;
    desk_env_start(&f, "desk_presence", quick);
    char ann[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann,
                       sizeof(ann));
    char other_config[256];
    snprintf(other_config, sizeof(other_config), "{%s}", quick);
    struct harness_gateway other;
    harness_gateway_start_config(&other, f.db.url, other_config, NULL);

    /* A gateway of an older release (no lease in its documents) gets no row: nothing to sweep. */
    assert_int_equal(
        harness_pg_longf(f.pg,
                         "SELECT (intake_desk(jsonb_build_object('action', 'stream', 'after', 0, "
                         "'token_hash', encode(sha256('%s'), 'hex')))->>'status')::int",
                         ann),
        200);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 0);
    harness_pg_exec(f.pg, "UPDATE agents SET presence = 'offline', online = false");

    /* Two tabs: one stream on each gateway. */
    struct ws_client *here = desk_env_stream(&f, ann, 0, NULL);
    struct ws_client *there = desk_env_stream_at(other.port, ann, 0, NULL);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 2);

    /* The tab on this gateway closes: the other is open, so Ann stays online. */
    ws_free(here);
    assert_int_equal(harness_pg_wait(f.pg, "SELECT count(*) FROM agent_streams", 1), 1);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE presence = 'online'"), 1);
    /* Renewed beyond the lease, she still gets new work, on the other gateway's stream. */
    sleep(4);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams WHERE "
                                            "renewed_at > now() - interval '3 seconds'"),
                     1);
    char *t1 = desk_env_contact(&f, "p1", "c1@x.test", "the app crashes");
    desk_env_expect_event(there, "ticket.assigned", t1);

    /*
     * Every row stale and no sweep for an hour, as after a database outage
     * longer than the lease: the sweeps start over and leave the row to its
     * renewal (the same row; before, it was swept and made anew, the agent
     * offline in between).
     */
    long row = harness_pg_longf(f.pg, "SELECT id FROM agent_streams");
    harness_pg_exec(f.pg, "UPDATE agent_streams SET renewed_at = now() - interval '1 hour'; "
                          "UPDATE agent_stream_sweeps SET last_at = now() - interval '1 hour'");
    sleep(2);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT id FROM agent_streams WHERE renewed_at > "
                                            "now() - interval '3 seconds'"),
                     row);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE presence = 'online'"), 1);

    /* Its row swept while the stream is open (its gateway alone lost the database): it is back. */
    harness_pg_exec(f.pg, "DELETE FROM agent_streams");
    harness_pg_exec(f.pg, "UPDATE agents SET presence = 'offline', online = false");
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM agents a JOIN agent_streams s ON "
                                     "s.agent_id = a.id WHERE a.presence = 'online' AND a.online",
                                     1),
                     1);

    /* The other gateway dies without a word: after the lease, Ann is offline. */
    kill(other.pid, SIGKILL);
    waitpid(other.pid, NULL, 0);
    ws_free(there);
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM agents WHERE presence = "
                                     "'offline' AND NOT online",
                                     1),
                     1);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 0);
    /* New work waits for someone online instead of going to her. */
    char *t2 = desk_env_contact(&f, "p2", "c2@x.test", "the app crashes again");
    assert_int_equal(
        harness_pg_longf(
            f.pg, "SELECT count(*) FROM tickets WHERE number = '%s' AND assignee_id IS NULL", t2),
        1);
    free(t1), free(t2);
    desk_env_stop(&f);
}

/*
 * A token replaced or an agent disabled ends the streams opened with it
 * (db/0018): a console left open must not go on receiving customers'
 * messages, nor keep its agent online for routing.
 */
static void test_revoked_token_ends_open_streams(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_revoked",
                   "\"agents\":{\"stream_lease_seconds\":3},\"escalation\":{\"scan_seconds\":1}");
    char ann[64], bob[64], out[1024];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann,
                       sizeof(ann));
    desk_env_add_agent(&f, "Bob", "bob@desk.test", "agent", "technical,general", "10", bob,
                       sizeof(bob));
    struct ws_client *ann_old = desk_env_stream(&f, ann, 0, NULL);
    struct ws_client *bob_tab = desk_env_stream(&f, bob, 0, NULL);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 2);

    /* Ann gets a new token: the stream opened with the old one closes at its next renewal. */
    const char *rotate[] = {"agent", "token", "ann@desk.test", NULL};
    assert_int_equal(desk_env_cli(&f, out, sizeof(out), rotate), 0);
    out[strcspn(out, "\n")] = '\0';
    char reason[128] = "";
    assert_int_equal(ws_wait_close(ann_old, DESK_WAIT_MS, reason, sizeof(reason)), 4001);
    assert_non_null(strstr(reason, "revoked"));
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams s JOIN agents a "
                                            "ON a.id = s.agent_id WHERE a.email = 'ann@desk.test'"),
                     0);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agents WHERE email = "
                                            "'ann@desk.test' AND presence = 'offline'"),
                     1);
    /* The new token opens a stream that stays open past its renewals. */
    struct ws_client *ann_new = desk_env_stream(&f, out, 0, NULL);
    sleep(3);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams s JOIN agents a "
                                            "ON a.id = s.agent_id WHERE a.email = 'ann@desk.test' "
                                            "AND s.renewed_at > now() - interval '2 seconds'"),
                     1);

    /* Bob is disabled: his open stream closes too, and new work is not his. */
    const char *disable[] = {"agent", "disable", "bob@desk.test", NULL};
    char said[256];
    assert_int_equal(desk_env_cli(&f, said, sizeof(said), disable), 0);
    assert_int_equal(ws_wait_close(bob_tab, DESK_WAIT_MS, reason, sizeof(reason)), 4001);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM agent_streams"), 1);
    char *t1 = desk_env_contact(&f, "r1", "c1@x.test", "the app crashes");
    desk_env_expect_event(ann_new, "ticket.assigned", t1);
    free(t1);
    ws_free(ann_old), ws_free(bob_tab), ws_free(ann_new);
    desk_env_stop(&f);
}

static void test_database_down_stream_closes_1011_and_survey_page_says_later(void **state)
{
    (void)state;
    struct harness_gateway gw;
    char dead[160];
    harness_unreachable_db_url(dead, sizeof(dead));
    harness_gateway_start_config(&gw, dead, "{}", NULL);
    /* The agent is told to come back; nothing is assumed about their presence. */
    struct ws_client *c = ws_connect(gw.port, "/v1/agent/stream", DESK_PROTOCOL, NULL);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"token\":\"any-token-0123456789\"}"));
    char reason[128];
    assert_int_equal(ws_wait_close(c, 15000, reason, sizeof(reason)), 1011);
    assert_string_equal(reason, "the gateway cannot reach its database");
    ws_free(c);
    /* A customer opening a survey link gets a page saying to try again, not an error body. */
    char url[256];
    snprintf(url, sizeof(url), "%s/s/%064d", gw.base, 7);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 503);
    assert_true(atoi(r.retry_after) >= 1);
    assert_non_null(strstr(r.body, "try again"));
    harness_response_free(&r);
    assert_int_equal(harness_gateway_stop(&gw), 0);
}

/*
 * An agent's stream is made on first use. Two first uses at once, one of
 * them in a transaction that holds the agent's row (as a transfer to the
 * agent does, moving their open_tickets): the other waits for the row
 * before making anything, and both end with the one stream. Made first
 * and the row taken after, the two waited for each other (a deadlock in a
 * CI run: test_registration's transfer against the gateway's push).
 */
static void test_first_uses_of_an_agent_stream_do_not_deadlock(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_stream_first", NULL);
    harness_pg_exec(f.pg, "INSERT INTO agents (name, email, capacity) "
                          "VALUES ('Newcomer', 'newcomer@desk.test', 5)");
    long agent = harness_pg_long(f.pg, "SELECT id FROM agents WHERE name = 'Newcomer'");
    char sql[256];
    PGconn *holder = harness_pg(f.db.url), *other = harness_pg(f.db.url);
    harness_pg_exec(holder, "BEGIN");
    snprintf(sql, sizeof(sql), "UPDATE agents SET open_tickets = open_tickets WHERE id = %ld",
             agent);
    harness_pg_exec(holder, sql);
    snprintf(sql, sizeof(sql), "SELECT intake_agent_stream(%ld)", agent);
    assert_int_equal(PQsendQuery(other, sql), 1);
    assert_int_equal(harness_pg_wait(f.pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                     "current_database() AND wait_event_type = 'Lock' "
                                     "AND query LIKE 'SELECT intake_agent_stream(%'",
                                     1),
                     1);
    long made = harness_pg_long(holder, sql);
    harness_pg_exec(holder, "COMMIT");
    PGresult *res;
    long seen = -1;
    while ((res = PQgetResult(other))) {
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            seen = atol(PQgetvalue(res, 0, 0));
        else
            fprintf(stderr, "the other first use: %s", PQresultErrorMessage(res));
        PQclear(res);
    }
    PQfinish(holder);
    PQfinish(other);
    assert_int_equal(seen, made);
    assert_int_equal(harness_pg_longf(f.pg,
                                      "SELECT count(*) FROM live_sessions "
                                      "WHERE visitor = 'agent-%ld'",
                                      agent),
                     1);
    desk_env_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_resumes_after_the_last_event_seen),
        cmocka_unit_test(test_typing_reaches_the_other_side_across_gateways_unstored),
        cmocka_unit_test(test_presence_follows_streams_on_every_gateway),
        cmocka_unit_test(test_revoked_token_ends_open_streams),
        cmocka_unit_test(test_database_down_stream_closes_1011_and_survey_page_says_later),
        cmocka_unit_test(test_first_uses_of_an_agent_stream_do_not_deadlock),
    };
    return cmocka_run_group_tests_name("desk streams", tests, NULL, NULL);
}
