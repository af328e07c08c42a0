/*
 * A person's data over REST, for supervisors: GET /v1/customers/{n}/export
 * (a zip by default, the JSON document on Accept: application/json), POST
 * /v1/customers/{n}/erase (with the number repeated as "confirm"), and GET
 * /v1/audit, a page at a time. Plain agents and leads are refused 403 and
 * change nothing; an unknown or ambiguous customer is 404 or 409. The
 * gateway has one registration worker, and an erase held up by a lock in
 * the database must not hold up a contact registered meanwhile: privacy
 * work has a worker and a connection of its own. The audit trail records
 * the acts, agents' and tokens' changes and ticket views, by number only,
 * and refuses to be changed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

static struct harness_env env;
static char *boss, *ann, *lead; /* a supervisor's, a plain agent's and a lead's tokens */
static char *customer;          /* the number of the customer who wrote */

/* Runs `intake ARGS` on the test database; its first output line (malloc'd). */
static char *intake(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "INTAKE_CONFIG= INTAKE_DATABASE_URL='%s' %s %s 2>/dev/null",
             env.db.url, INTAKE_BINARY, args);
    FILE *p = popen(cmd, "r");
    char line[512] = "";
    if (!fgets(line, sizeof(line), p))
        line[0] = '\0';
    pclose(p);
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

static int setup(void **state)
{
    (void)state;
    if (harness_env_setup(&env, "privacy_api", "{\"database\":{\"workers\":1}}"))
        return -1;
    free(intake("agent add --name Boss --email boss@example.test --role supervisor"));
    free(intake("agent add --name Ann --email ann@example.test"));
    free(intake("agent add --name Lea --email lea@example.test --role lead"));
    boss = intake("agent token boss@example.test");
    ann = intake("agent token ann@example.test");
    lead = intake("agent token lea@example.test");
    char *ticket = harness_post_new_contact(
        &env.gw, "{\"external_id\":\"pa-1\",\"customer\":{\"name\":\"Qian Wen\","
                 "\"email\":\"qian.wen@example.cn\"},\"body\":\"QW-SECRET-8080\"}");
    free(ticket);
    const char *mail = "From: Qian Wen <qian.wen@example.cn>\r\nTo: help@desk.example\r\n"
                       "Subject: QW-MAIL-1\r\nMessage-ID: <qw-1@example.cn>\r\n"
                       "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                       "--b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n"
                       "--b\r\nContent-Type: text/plain; name=qw.txt\r\n"
                       "Content-Disposition: attachment; filename=qw.txt\r\n\r\n"
                       "QW-ATTACHED-77\r\n--b--\r\n";
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", env.gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", mail, strlen(mail), &r);
    if (r.status != 201)
        fail_msg("email: %ld %s", r.status, r.body);
    harness_response_free(&r);
    customer = harness_pg_text(env.pg, "SELECT c.number FROM customers c JOIN "
                                       "customer_identities i ON i.customer_id = c.id "
                                       "WHERE i.value = 'qian.wen@example.cn'");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(boss);
    free(ann);
    free(lead);
    free(customer);
    return harness_env_teardown(&env);
}

/* A request to the gateway with a bearer token and, if given, an Accept header. */
static void request(const char *method, const char *path, const char *token, const char *accept,
                    const char *json, struct harness_response *r)
{
    char url[256], auth[256], acc[128];
    snprintf(url, sizeof(url), "%s%s", env.gw.base, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    snprintf(acc, sizeof(acc), "Accept: %s", accept ? accept : "*/*");
    const char *headers[] = {auth, acc, "Content-Type: application/json", NULL};
    harness_http_headers(method, url, headers, json, json ? strlen(json) : 0, r);
}

static long status_of(const char *method, const char *path, const char *token, const char *json)
{
    struct harness_response r;
    request(method, path, token, NULL, json, &r);
    long st = r.status;
    harness_response_free(&r);
    return st;
}

static long audit_rows(const char *action)
{
    return harness_pg_longf(env.pg, "SELECT count(*) FROM audit_log WHERE action = '%s'", action);
}

static void test_export_zip_and_json(void **state)
{
    (void)state;
    /* The zip, read back by Python's zipfile: the document and the raw mail (its attachment in it).
     */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "python3 -c \"import io,sys,zipfile,urllib.request as u; r=u.urlopen(u.Request("
             "sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})); "
             "z=zipfile.ZipFile(io.BytesIO(r.read())); n=sorted(z.namelist()); "
             "print(r.headers['Content-Type'], n[0], len(n), "
             "b'QW-SECRET-8080' in z.read('customer.json'), "
             "any(b'QW-ATTACHED-77' in z.read(x) for x in n if x.startswith('sources/')), "
             "any(b'Message-ID: <qw-1@example.cn>' in z.read(x) for x in n "
             "if x.startswith('sources/')))\" %s/v1/customers/%s/export %s",
             env.gw.base, customer, boss);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    assert_string_equal(line, "application/zip customer.json 2 True True True\n");

    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/export", customer);
    struct harness_response r;
    request("GET", path, boss, "application/json", NULL, &r);
    assert_int_equal(r.status, 200);
    if (!strstr(r.body, "QW-SECRET-8080"))
        fail_msg("the JSON export lacks the message: %.300s", r.body);
    assert_non_null(strstr(r.body, "qian.wen@example.cn"));
    assert_null(strstr(r.body, "\"files\""));
    harness_response_free(&r);
    assert_int_equal(audit_rows("customer.export"), 2);
    harness_pg_text_is(env.pg,
                       "SELECT string_agg(DISTINCT actor, ',') FROM audit_log "
                       "WHERE action = 'customer.export'",
                       "agent:1");
}

static void test_refusals_change_nothing(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/export", customer);
    assert_int_equal(status_of("GET", path, ann, NULL), 403);
    assert_int_equal(status_of("GET", path, lead, NULL), 403);
    assert_int_equal(status_of("GET", path, "no-such-token", NULL), 401);
    assert_int_equal(status_of("GET", "/v1/audit", ann, NULL), 403);
    assert_int_equal(status_of("GET", "/v1/customers/C-999999/export", boss, NULL), 404);
    assert_int_equal(status_of("GET", "/v1/customers/C-000001/exports", boss, NULL), 404);
    snprintf(path, sizeof(path), "/v1/customers/%s/erase", customer);
    char confirm[128];
    snprintf(confirm, sizeof(confirm), "{\"confirm\":\"%s\"}", customer);
    assert_int_equal(status_of("POST", path, ann, confirm), 403);
    assert_int_equal(status_of("POST", path, boss, "{}"), 400);
    assert_int_equal(status_of("POST", path, boss, "{\"confirm\":\"C-000999\"}"), 400);
    assert_int_equal(status_of("POST", path, boss, "{\"confirm\":\"x\",\"why\":1}"), 400);
    /* A new customer's number is the first one's chat identity: ambiguous. */
    harness_pg_exec(env.pg, "INSERT INTO customers (number) VALUES ('C-424242')");
    harness_pg_exec(env.pg, "INSERT INTO customer_identities (kind, value, customer_id) "
                            "SELECT 'chat', 'c-424242', customer_id FROM customer_identities "
                            "WHERE value = 'qian.wen@example.cn'");
    assert_int_equal(
        status_of("POST", "/v1/customers/C-424242/erase", boss, "{\"confirm\":\"C-424242\"}"), 409);
    assert_int_equal(status_of("GET", "/v1/customers/C-424242/export", boss, NULL), 409);
    harness_pg_exec(env.pg, "DELETE FROM customer_identities WHERE value = 'c-424242'");
    assert_int_equal(audit_rows("customer.erase"), 0);
    assert_int_equal(harness_pg_longf(env.pg,
                                      "SELECT count(*) FROM customer_identities i JOIN "
                                      "customers c ON c.id = i.customer_id WHERE c.number = '%s'",
                                      customer),
                     1);
}

/* The erase request, on a thread of its own while the test holds a lock it needs. */
static void *erase_request(void *arg)
{
    char path[128], confirm[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/erase", customer);
    snprintf(confirm, sizeof(confirm), "{\"confirm\":\"%s\"}", customer);
    struct harness_response *r = arg;
    request("POST", path, boss, NULL, confirm, r);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_erase_waits_alone(void **state)
{
    (void)state;
    PGconn *holder = PQconnectdb(env.db.url);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    char sql[256];
    snprintf(sql, sizeof(sql), "BEGIN; SELECT 1 FROM customers WHERE number = '%s' FOR UPDATE",
             customer);
    PQclear(PQexec(holder, sql));
    struct harness_response erased;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, erase_request, &erased), 0);
    /* The erase now waits for the customer's row ... */
    assert_int_equal(harness_pg_wait(env.pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE "
                                     "wait_event_type = 'Lock' AND query LIKE '%intake_privacy%'",
                                     1),
                     1);
    /* ... and the one registration worker still registers a contact at once. */
    double t0 = now_s();
    free(harness_post_new_contact(&env.gw, "{\"external_id\":\"pa-2\",\"customer\":{\"email\":"
                                           "\"someone.else@example.org\"},\"body\":\"hello\"}"));
    assert_true(now_s() - t0 < 2.0);
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    pthread_join(t, NULL);
    assert_int_equal(erased.status, 200);
    assert_non_null(strstr(erased.body, "\"tickets\":2"));
    harness_response_free(&erased);
    assert_int_equal(audit_rows("customer.erase"), 1);
    assert_int_equal(
        harness_pg_long(env.pg, "SELECT count(*) FROM messages WHERE body LIKE '%QW-SECRET%'"), 0);
    char path[128];
    snprintf(path, sizeof(path), "/v1/customers/%s/export", customer);
    struct harness_response r;
    request("GET", path, boss, "application/json", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "qian.wen@example.cn"));
    harness_response_free(&r);
}

static void test_audit_pages(void **state)
{
    (void)state;
    long total = harness_pg_long(env.pg, "SELECT count(*) FROM audit_log");
    assert_true(total >= 8); /* 3 agents made, 3 tokens, 3 exports, 1 erase */
    long seen = 0;
    char path[128] = "/v1/audit?limit=3";
    long last_id = 1L << 60;
    for (int page = 0; page < 100; page++) {
        struct harness_response r;
        request("GET", path, boss, NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        /* Newest first, each id below the page before's. */
        for (const char *p = strstr(r.body, "\"id\":"); p; p = strstr(p + 1, "\"id\":")) {
            long id = strtol(p + 5, NULL, 10);
            assert_true(id < last_id);
            last_id = id;
            seen++;
        }
        char *next = harness_json_str(r.body, "next");
        harness_response_free(&r);
        if (!next)
            break;
        snprintf(path, sizeof(path), "/v1/audit?limit=3&after=%s", next);
        free(next);
    }
    assert_int_equal(seen, total);
    assert_int_equal(status_of("GET", "/v1/audit?limit=0", boss, NULL), 400);
    assert_int_equal(status_of("GET", "/v1/audit?after=x", boss, NULL), 400);
    assert_int_equal(status_of("GET", "/v1/audit?colour=red", boss, NULL), 400);
    /* Nobody changes the trail, not even with the database's own statements. */
    PGresult *res = PQexec(env.pg, "DELETE FROM audit_log");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    res = PQexec(env.pg, "UPDATE audit_log SET actor = 'someone'");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    res = PQexec(env.pg, "TRUNCATE audit_log");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM audit_log"), total);
}

static long audit_of(const char *action, const char *subject)
{
    return harness_pg_longf(env.pg,
                            "SELECT count(*) FROM audit_log WHERE action = '%s' AND subject = '%s'",
                            action, subject);
}

static void test_agent_changes_and_views_audited(void **state)
{
    (void)state;
    char *ann_id = harness_pg_text(env.pg, "SELECT 'agent:' || id FROM agents "
                                           "WHERE email = 'ann@example.test'");
    assert_int_equal(audit_of("agent.create", ann_id), 1);
    assert_int_equal(audit_of("agent.token_issue", ann_id), 1);
    free(intake("agent add --name Ann --email ann@example.test --role lead"));
    harness_pg_text_is(env.pg,
                       "SELECT detail::text FROM audit_log WHERE action = 'agent.role' "
                       "ORDER BY id DESC LIMIT 1",
                       "{\"to\": \"lead\", \"from\": \"agent\"}");
    free(intake("agent add --name Ann --email ann@example.test --role lead --queues orders"));
    harness_pg_text_is(env.pg,
                       "SELECT detail::text FROM audit_log WHERE action = 'agent.queues' "
                       "ORDER BY id DESC LIMIT 1",
                       "{\"to\": [\"orders\"], \"from\": []}");
    free(intake("agent add --name Ann --email ann@example.test --role lead --queues orders"));
    assert_int_equal(audit_of("agent.queues", ann_id), 1);
    free(intake("agent disable ann@example.test"));
    assert_int_equal(audit_of("agent.disable", ann_id), 1);
    assert_int_equal(audit_of("agent.token_revoke", ann_id), 1);
    free(intake("agent token ann@example.test"));
    assert_int_equal(audit_of("agent.enable", ann_id), 1);
    assert_int_equal(audit_of("agent.token_issue", ann_id), 2);
    /* Presence is no change worth a row. */
    long before = harness_pg_long(env.pg, "SELECT count(*) FROM audit_log");
    harness_pg_exec(env.pg, "UPDATE agents SET presence = 'away', online = false");
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM audit_log"), before);

    /* A supervisor opens a ticket: one row naming them and the customer, by number. */
    char *ticket = harness_pg_text(env.pg, "SELECT max(number) FROM tickets");
    char *owner = harness_pg_text(env.pg, "SELECT c.number FROM tickets t JOIN customers c "
                                          "ON c.id = t.customer_id ORDER BY t.number DESC LIMIT 1");
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s", ticket);
    assert_int_equal(status_of("GET", path, boss, NULL), 200);
    assert_int_equal(harness_pg_longf(env.pg,
                                      "SELECT count(*) FROM audit_log WHERE action = "
                                      "'customer.view' AND actor = 'agent:1' AND subject = '%s' "
                                      "AND detail->>'ticket' = '%s'",
                                      owner, ticket),
                     1);
    /*
     * One row per agent and customer in ten minutes: the same ticket opened
     * again and again, or another ticket of the same customer, adds none.
     */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT t.number FROM tickets t JOIN customers c ON c.id = t.customer_id "
             "WHERE c.number = '%s' AND t.number <> '%s' LIMIT 1",
             owner, ticket);
    char *other = harness_pg_text(env.pg, sql);
    for (int i = 0; i < 50; i++)
        assert_int_equal(status_of("GET", path, boss, NULL), 200);
    if (other) {
        char other_path[128];
        snprintf(other_path, sizeof(other_path), "/v1/tickets/%s", other);
        assert_int_equal(status_of("GET", other_path, boss, NULL), 200);
    }
    assert_int_equal(harness_pg_longf(env.pg,
                                      "SELECT count(*) FROM audit_log WHERE action = "
                                      "'customer.view' AND actor = 'agent:1' AND subject = '%s'",
                                      owner),
                     1);
    /* Another viewer of the same customer is a row of its own; so is a view
     * after the window (a row from eleven minutes ago: the trail cannot be
     * backdated through the product, so it is written as it would stand). */
    snprintf(sql, sizeof(sql),
             "INSERT INTO audit_log (actor, action, subject, at) VALUES ('api', "
             "'customer.view', '%s', now() - interval '11 minutes')",
             owner);
    harness_pg_exec(env.pg, sql);
    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of("GET", path, HARNESS_TOKEN, NULL), 200);
    assert_int_equal(harness_pg_longf(env.pg,
                                      "SELECT count(*) FROM audit_log WHERE action = "
                                      "'customer.view' AND actor = 'api' AND subject = '%s' "
                                      "AND at > now() - interval '1 minute'",
                                      owner),
                     1);
    free(other);
    /* The trail names nobody by address. */
    assert_int_equal(harness_pg_long(env.pg, "SELECT count(*) FROM audit_log WHERE "
                                             "concat(actor, subject, detail) LIKE '%@%'"),
                     0);
    free(ticket);
    free(owner);
    free(ann_id);
}

static void *contact_request(void *arg)
{
    harness_post_contact(&env.gw,
                         "{\"external_id\":\"pa-view-2\",\"customer\":{\"email\":"
                         "\"waiting.one@example.org\"},\"body\":\"hello\"}",
                         arg);
    return NULL;
}

/*
 * Opening a ticket waits for no registration: while a lock holds up the one
 * registration worker's batch, a supervisor's view is answered at once (the
 * intake's read lane, gw_operation.read_lane) and its audit row is written.
 */
static void test_a_view_waits_for_no_registration(void **state)
{
    (void)state;
    char *ticket =
        harness_post_new_contact(&env.gw, "{\"external_id\":\"pa-view-1\",\"customer\":{\"email\":"
                                          "\"viewed.one@example.org\"},\"body\":\"hello\"}");
    assert_non_null(ticket);
    PGconn *holder = PQconnectdb(env.db.url);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    PQclear(PQexec(holder, "BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE"));
    struct harness_response waiting;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, contact_request, &waiting), 0);
    /* The registration now waits for the lock ... */
    assert_int_equal(harness_pg_wait(env.pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE "
                                     "wait_event_type = 'Lock' AND application_name = "
                                     "'intake-register'",
                                     1),
                     1);
    /* ... and the view is answered all the same, its audit row written. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s", ticket);
    double t0 = now_s();
    assert_int_equal(status_of("GET", path, boss, NULL), 200);
    assert_true(now_s() - t0 < 2.0);
    assert_int_equal(harness_pg_longf(env.pg,
                                      "SELECT count(*) FROM audit_log a JOIN customers c "
                                      "ON c.number = a.subject JOIN tickets t "
                                      "ON t.customer_id = c.id WHERE a.action = 'customer.view' "
                                      "AND a.actor = 'agent:1' AND t.number = '%s'",
                                      ticket),
                     1);
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    pthread_join(t, NULL);
    /* The contact was held, not refused. */
    assert_int_equal(waiting.status, 201);
    harness_response_free(&waiting);
    free(ticket);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_zip_and_json),
        cmocka_unit_test(test_refusals_change_nothing),
        cmocka_unit_test(test_erase_waits_alone),
        cmocka_unit_test(test_a_view_waits_for_no_registration),
        cmocka_unit_test(test_audit_pages),
        cmocka_unit_test(test_agent_changes_and_views_audited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
