/*
 * The chat protocol end to end from a libwebsockets client: a real gateway
 * (two, for the cross-node case) on a real PostgreSQL. Sessions, the
 * committed-then-acknowledged rule, resume without loss or repeats,
 * duplicate client ids, and every refusal (size, JSON, origin, rate,
 * protocol, unknown session).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ws_client.h"

#define ORIGIN   "http://shop.example"
#define PROTOCOL "intake-chat.v1"
#define WAIT_MS  5000

struct fixture {
    struct harness_db db;
    struct harness_gateway gw;
    PGconn *pg;
};

static void start(struct fixture *f, const char *name, const char *chat_settings)
{
    char config[1024];
    snprintf(config, sizeof(config),
             "{\"channels\":{\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]%s%s}}}",
             chat_settings ? "," : "", chat_settings ? chat_settings : "");
    harness_db_create(&f->db, name);
    assert_int_equal(harness_migrate(f->db.url, NULL, 0), 0);
    harness_gateway_start_config(&f->gw, f->db.url, config, NULL);
    f->pg = harness_pg(f->db.url);
}

static void stop(struct fixture *f)
{
    assert_int_equal(harness_gateway_stop(&f->gw), 0);
    PQfinish(f->pg);
    harness_db_drop(&f->db);
}

static struct ws_client *open_chat(const struct fixture *f)
{
    struct ws_client *c = ws_connect(f->gw.port, "/v1/chat", PROTOCOL, ORIGIN);
    assert_non_null(c);
    return c;
}

static long json_long(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* A new session; returns the welcome (malloc'd) and the token in token. */
static char *hello_new(struct ws_client *c, const char *profile, char *token, size_t cap)
{
    char hello[512];
    snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"lang\":\"en\"%s%s}",
             profile ? ",\"profile\":" : "", profile ? profile : "");
    assert_true(ws_send(c, hello));
    char *welcome = ws_recv(c, WAIT_MS);
    assert_non_null(welcome);
    assert_non_null(strstr(welcome, "\"type\":\"welcome\""));
    char *t = harness_json_str(welcome, "token");
    assert_non_null(t);
    snprintf(token, cap, "%s", t);
    free(t);
    return welcome;
}

static char *say(struct ws_client *c, const char *client_id, const char *text)
{
    char msg[9000];
    snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"client_id\":\"%s\",\"text\":\"%s\"}",
             client_id, text);
    assert_true(ws_send(c, msg));
    char *ack = ws_recv_type(c, "ack", WAIT_MS);
    assert_non_null(ack);
    return ack;
}

/* A stored session resumed on the gateway at port, from event last_seq on. */
static struct ws_client *resume_at(int port, const char *token, long last_seq)
{
    struct ws_client *c = ws_connect(port, "/v1/chat", PROTOCOL, ORIGIN);
    assert_non_null(c);
    char hello[256];
    snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"token\":\"%s\",\"last_seq\":%ld}", token,
             last_seq);
    assert_true(ws_send(c, hello));
    char *welcome = ws_recv(c, WAIT_MS);
    assert_non_null(welcome);
    assert_non_null(strstr(welcome, "\"resumed\":true"));
    free(welcome);
    return c;
}

static struct ws_client *resume(const struct fixture *f, const char *token, long last_seq)
{
    return resume_at(f->gw.port, token, last_seq);
}

/* A second gateway on the fixture's database, with the same chat settings. */
static void start_second_gateway(const struct fixture *f, struct harness_gateway *other)
{
    harness_gateway_start_config(
        other, f->db.url, "{\"channels\":{\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]}}}", NULL);
}

/* Posts an agent's reply; returns the answer's "fallback" count (replies sent by mail/text). */
static long post_reply(const struct harness_gateway *gw, const char *ticket, const char *text)
{
    char url[256], body[512];
    snprintf(url, sizeof(url), "%s/v1/tickets/%s/replies", gw->base, ticket);
    snprintf(body, sizeof(body), "{\"text\":\"%s\",\"agent\":\"Li Wei\"}", text);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "application/json", body, strlen(body), &r);
    assert_int_equal(r.status, 201);
    long fallback = json_long(r.body, "fallback");
    harness_response_free(&r);
    return fallback;
}

static void test_first_message_registers_a_ticket_and_is_acknowledged(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_first", NULL);
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, "{\"name\":\"Ana Silva\",\"email\":\"Ana@Example.com\"}", token,
                   sizeof(token)));

    char *ack = say(c, "m1", "My order 5512 arrived broken");
    char *ticket = harness_json_str(ack, "ticket");
    assert_non_null(ticket);
    assert_int_equal(json_long(ack, "seq"), 1);
    assert_false(harness_json_bool(ack, "duplicate"));

    /* The ack came after the commit: the ticket and message are there now. */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM tickets t JOIN customers c ON c.id = t.customer_id "
             "JOIN customer_identities i ON i.customer_id = c.id AND i.kind = 'email' "
             "WHERE t.number = '%s' AND t.channel = 'chat' AND c.name = 'Ana Silva' "
             "AND i.value = 'ana@example.com'",
             ticket);
    assert_int_equal(harness_pg_long(f.pg, sql), 1);

    /* The customer's message, then the acknowledgement with the ticket number. */
    char *m = ws_recv_type(c, "message", WAIT_MS);
    assert_non_null(m);
    assert_int_equal(json_long(m, "seq"), 1);
    assert_non_null(strstr(m, "\"from\":\"customer\""));
    char *notice = ws_recv_type(c, "notice", WAIT_MS);
    assert_non_null(notice);
    assert_int_equal(json_long(notice, "seq"), 2);
    assert_non_null(strstr(notice, ticket));
    assert_non_null(strstr(notice, "Hello Ana Silva"));

    /* A second message joins the same ticket with no second notice. */
    char *ack2 = say(c, "m2", "Photos attached later");
    char *ticket2 = harness_json_str(ack2, "ticket");
    assert_string_equal(ticket, ticket2);
    assert_int_equal(json_long(ack2, "seq"), 3);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id "
             "WHERE t.number = '%s' AND m.direction = 'in'",
             ticket);
    assert_int_equal(harness_pg_long(f.pg, sql), 2);
    free(ack);
    free(ack2);
    free(m);
    free(notice);
    free(ticket);
    free(ticket2);
    ws_free(c);
    stop(&f);
}

static void test_chinese_browser_gets_a_chinese_acknowledgement(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_zh", NULL);
    struct ws_client *c = open_chat(&f);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"lang\":\"zh-CN\"}"));
    free(ws_recv_type(c, "welcome", WAIT_MS));
    free(say(c, "z1", "你好，我的订单还没有发货"));
    char *notice = ws_recv_type(c, "notice", WAIT_MS);
    assert_non_null(notice);
    assert_non_null(strstr(notice, "工单号"));
    free(notice);
    ws_free(c);
    stop(&f);
}

static void test_agent_reply_arrives_live_and_resume_replays_only_what_was_missed(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_resume", NULL);
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, NULL, token, sizeof(token)));
    char *ack = say(c, "r1", "Where is my refund?");
    char *ticket = harness_json_str(ack, "ticket");
    free(ws_recv_type(c, "notice", WAIT_MS)); /* seq 2 */

    post_reply(&f.gw, ticket, "Refunds take 3 days");
    char *live = ws_recv_type(c, "message", WAIT_MS);
    /* the customer's own message (seq 1) came before the ack's notice; skip to the agent's */
    while (live && !strstr(live, "\"from\":\"agent\"")) {
        free(live);
        live = ws_recv_type(c, "message", WAIT_MS);
    }
    assert_non_null(live);
    assert_int_equal(json_long(live, "seq"), 3);
    assert_non_null(strstr(live, "Refunds take 3 days"));
    free(live);

    /* The network drops; two replies are posted meanwhile. */
    ws_free(c);
    post_reply(&f.gw, ticket, "Second reply");
    post_reply(&f.gw, ticket, "Third reply");

    struct ws_client *back = resume(&f, token, 3);
    char *a = ws_recv(back, WAIT_MS);
    char *b = ws_recv(back, WAIT_MS);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(json_long(a, "seq"), 4);
    assert_non_null(strstr(a, "Second reply"));
    assert_int_equal(json_long(b, "seq"), 5);
    assert_non_null(strstr(b, "Third reply"));
    /* nothing more: no event twice */
    char *extra = ws_recv(back, 500);
    assert_null(extra);
    free(a);
    free(b);

    /* A reload starts from nothing and gets the whole history in order. */
    struct ws_client *reload = resume(&f, token, 0);
    for (long seq = 1; seq <= 5; seq++) {
        char *e = ws_recv(reload, WAIT_MS);
        assert_non_null(e);
        assert_int_equal(json_long(e, "seq"), seq);
        free(e);
    }
    free(ack);
    free(ticket);
    ws_free(back);
    ws_free(reload);
    stop(&f);
}

static void test_resent_client_id_is_stored_once(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_dup", NULL);
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, NULL, token, sizeof(token)));
    char *first = say(c, "same-id", "Hello there");
    char *again = say(c, "same-id", "Hello there");
    assert_true(harness_json_bool(again, "duplicate"));
    assert_int_equal(json_long(again, "seq"), json_long(first, "seq"));
    ws_free(c);

    /* And after a reconnect, too. */
    struct ws_client *back = resume(&f, token, 2);
    char *third = say(back, "same-id", "Hello there");
    assert_true(harness_json_bool(third, "duplicate"));
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM messages WHERE channel = 'chat'"),
                     1);
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM session_events"), 2);
    free(first);
    free(again);
    free(third);
    ws_free(back);
    stop(&f);
}

static void test_oversized_message_closes_with_1009(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_big", NULL);
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, NULL, token, sizeof(token)));
    size_t n = 9000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    ws_send(c, big);
    char reason[128];
    assert_int_equal(ws_wait_close(c, WAIT_MS, reason, sizeof(reason)), 1009);
    assert_string_equal(reason, "message too large");
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM messages"), 0);
    free(big);
    ws_free(c);
    stop(&f);
}

static void test_malformed_messages_get_errors_then_a_close(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_malformed", NULL);
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, NULL, token, sizeof(token)));

    assert_true(ws_send(c, "{not json"));
    char *e1 = ws_recv_type(c, "error", WAIT_MS);
    assert_non_null(e1);
    assert_non_null(strstr(e1, "\"code\":\"invalid_json\""));
    assert_true(ws_send(c, "{\"type\":\"message\",\"client_id\":\"a b\",\"text\":\"x\"}"));
    char *e2 = ws_recv_type(c, "error", WAIT_MS);
    assert_non_null(e2);
    assert_non_null(strstr(e2, "\"field\":\"client_id\""));
    assert_true(ws_send_raw(c, "\x01\x02", 2, true));
    char *e3 = ws_recv_type(c, "error", WAIT_MS);
    assert_non_null(e3);
    assert_non_null(strstr(e3, "\"code\":\"invalid_frame\""));
    char reason[128];
    assert_int_equal(ws_wait_close(c, WAIT_MS, reason, sizeof(reason)), 1008);
    assert_string_equal(reason, "too many invalid or refused messages");
    free(e1);
    free(e2);
    free(e3);
    ws_free(c);

    /* An invalid pre-chat form: the field is named and no session is made. */
    struct ws_client *d = open_chat(&f);
    assert_true(ws_send(d, "{\"type\":\"hello\",\"profile\":{\"email\":\"not-an-address\"}}"));
    char *e4 = ws_recv_type(d, "error", WAIT_MS);
    assert_non_null(e4);
    assert_non_null(strstr(e4, "\"field\":\"email\""));
    assert_true(ws_send(d, "{\"type\":\"message\",\"client_id\":\"c1\",\"text\":\"hi\"}"));
    char *e5 = ws_recv_type(d, "error", WAIT_MS);
    assert_non_null(e5);
    assert_non_null(strstr(e5, "\"code\":\"hello_first\""));
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM live_sessions"), 1);
    free(e4);
    free(e5);
    ws_free(d);
    stop(&f);
}

static void test_wrong_or_missing_origin_is_closed(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_origin", NULL);
    const char *bad[] = {"http://evil.example", NULL};
    for (size_t i = 0; i < 2; i++) {
        struct ws_client *c = ws_connect(f.gw.port, "/v1/chat", PROTOCOL, bad[i]);
        assert_non_null(c);
        char reason[128];
        assert_int_equal(ws_wait_close(c, WAIT_MS, reason, sizeof(reason)), 1008);
        assert_string_equal(reason, "origin not allowed");
        ws_free(c);
    }
    /* No subprotocol, or another one: the handshake is refused. */
    assert_null(ws_connect(f.gw.port, "/v1/chat", NULL, ORIGIN));
    assert_null(ws_connect(f.gw.port, "/v1/chat", "other-protocol", ORIGIN));
    /* The chat protocol on another path is refused too. */
    assert_null(ws_connect(f.gw.port, "/v1/contacts", PROTOCOL, ORIGIN));
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM live_sessions"), 0);
    stop(&f);
}

static void test_fast_sender_is_rate_limited(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_rate", "\"messages_per_minute\":6,\"invalid_messages_before_close\":50");
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, NULL, token, sizeof(token)));
    /* hello took one of the burst of 2 */
    int acked = 0, limited = 0;
    for (int i = 0; i < 5; i++) {
        char msg[128];
        snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"client_id\":\"f%d\",\"text\":\"x\"}",
                 i);
        assert_true(ws_send(c, msg));
    }
    for (char *m; (m = ws_recv(c, 1500)) != NULL; free(m)) {
        acked += strstr(m, "\"type\":\"ack\"") != NULL;
        limited += strstr(m, "\"code\":\"rate_limited\"") != NULL;
    }
    assert_int_equal(acked, 1);
    assert_int_equal(limited, 4);
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(*) FROM messages"), 1);
    ws_free(c);
    stop(&f);
}

static void test_unknown_token_closes_with_4001(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_unknown", NULL);
    struct ws_client *c = open_chat(&f);
    assert_true(ws_send(c, "{\"type\":\"hello\",\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"));
    char reason[128];
    assert_int_equal(ws_wait_close(c, WAIT_MS, reason, sizeof(reason)), 4001);
    ws_free(c);
    stop(&f);
}

static void test_hello_must_come_in_time(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_hello_timeout", "\"hello_timeout_seconds\":1");
    struct ws_client *c = open_chat(&f);
    char reason[128];
    assert_int_equal(ws_wait_close(c, 4000, reason, sizeof(reason)), 1008);
    assert_string_equal(reason, "timed out");
    ws_free(c);
    stop(&f);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A client that went away without a word (a phone that lost its network): a
 * raw socket that completes the WebSocket handshake and then neither sends
 * nor answers pings. Returns the socket, or -1.
 */
static int open_dead_client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /v1/chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " PROTOCOL "\r\n"
                     "Origin: " ORIGIN "\r\n\r\n",
                     port);
    char answer[1024] = "";
    if (write(fd, req, (size_t)n) != n || read(fd, answer, sizeof(answer) - 1) <= 0 ||
        !strstr(answer, " 101 ")) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_silent_client_is_pinged_then_closed_when_idle(void **state)
{
    (void)state;
    struct fixture f;
    char config[512];
    snprintf(config, sizeof(config),
             "{\"limits\":{\"socket_idle_seconds\":4},\"channels\":{\"chat\":{"
             "\"allowed_origins\":[\"" ORIGIN "\"],\"hello_timeout_seconds\":300}}}");
    harness_db_create(&f.db, "chat_idle");
    assert_int_equal(harness_migrate(f.db.url, NULL, 0), 0);
    harness_gateway_start_config(&f.gw, f.db.url, config, NULL);
    f.pg = harness_pg(f.db.url);

    /* A client that answers pings (libwebsockets does) stays past the idle time. */
    struct ws_client *alive = open_chat(&f);
    int dead = open_dead_client(f.gw.port);
    assert_true(dead >= 0);
    double start = seconds_now(), pinged_at = 0, closed_at = 0;
    while (!closed_at && seconds_now() - start < 8) {
        assert_null(ws_recv(alive, 50)); /* meanwhile the live client answers its pings */
        struct pollfd p = {.fd = dead, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            unsigned char buf[256];
            ssize_t got = read(dead, buf, sizeof(buf));
            if (got <= 0)
                closed_at = seconds_now() - start;
            else if (buf[0] == 0x89 && !pinged_at) /* a ping frame */
                pinged_at = seconds_now() - start;
        }
    }
    close(dead);
    /*
     * Pinged at half the idle time, closed at all of it, give or take the
     * server's quarter-second timer tick (without it: after 28 s and 30 s).
     */
    assert_true(pinged_at >= 1.5 && pinged_at < 3.5);
    assert_true(closed_at >= 3.5 && closed_at < 6);
    assert_null(ws_recv(alive, 1000));
    assert_false(ws_is_closed(alive));
    char token[128];
    free(hello_new(alive, NULL, token, sizeof(token)));
    ws_free(alive);
    stop(&f);
}

static void test_reply_posted_on_another_gateway_reaches_the_customer(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_two_nodes", NULL);
    struct harness_gateway other;
    start_second_gateway(&f, &other);
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, NULL, token, sizeof(token)));
    char *ack = say(c, "n1", "Is anyone there?");
    char *ticket = harness_json_str(ack, "ticket");
    free(ws_recv_type(c, "notice", WAIT_MS));

    post_reply(&other, ticket, "Yes, from node two");
    char *m;
    while ((m = ws_recv_type(c, "message", WAIT_MS)) != NULL && !strstr(m, "node two"))
        free(m);
    assert_non_null(m);
    assert_int_equal(json_long(m, "seq"), 3);
    free(m);
    /* The customer's next message, sent to node two after a reconnect, threads on. */
    ws_free(c);
    struct ws_client *c2 = resume_at(other.port, token, 3);
    char *ack2 = say(c2, "n2", "Thanks!");
    char *ticket2 = harness_json_str(ack2, "ticket");
    assert_string_equal(ticket, ticket2);
    free(ack);
    free(ack2);
    free(ticket);
    free(ticket2);
    ws_free(c2);
    assert_int_equal(harness_gateway_stop(&other), 0);
    stop(&f);
}

/* The next event a socket receives must be the customer's message numbered seq, saying text. */
static void expect_customer_message(struct ws_client *c, long seq, const char *text)
{
    char *m = ws_recv_type(c, "message", WAIT_MS);
    assert_non_null(m);
    assert_int_equal(json_long(m, "seq"), seq);
    assert_non_null(strstr(m, "\"from\":\"customer\""));
    assert_non_null(strstr(m, text));
    free(m);
}

static void test_customer_message_reaches_the_sessions_other_sockets_on_both_gateways(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_other_sockets", NULL);
    struct harness_gateway other;
    start_second_gateway(&f, &other);
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, NULL, token, sizeof(token)));
    free(say(c, "t1", "First tab"));
    free(ws_recv_type(c, "notice", WAIT_MS)); /* seq 2 */

    /* The same customer in a second tab on this gateway and a third on the other. */
    struct ws_client *same_node = resume(&f, token, 2);
    struct ws_client *other_node = resume_at(other.port, token, 2);

    /*
     * Committed on the first gateway, announced after its commit, fetched by
     * both. The sender has it in the answer to its message, after the ack.
     */
    free(say(c, "t2", "Sent from the first tab"));
    expect_customer_message(c, 3, "Sent from the first tab");
    expect_customer_message(same_node, 3, "Sent from the first tab");
    expect_customer_message(other_node, 3, "Sent from the first tab");
    /* And the other way round. */
    free(say(other_node, "t3", "Sent from the third tab"));
    expect_customer_message(other_node, 4, "Sent from the third tab");
    expect_customer_message(c, 4, "Sent from the third tab");
    expect_customer_message(same_node, 4, "Sent from the third tab");
    /* Nothing twice. */
    assert_null(ws_recv(c, 300));
    assert_null(ws_recv(same_node, 100));
    assert_null(ws_recv(other_node, 100));
    /* The announcing connection is cut: the next announcement is held and sent on a new one. */
    assert_int_equal(harness_pg_long(f.pg, "SELECT count(pg_terminate_backend(pid)) FROM "
                                           "pg_stat_activity WHERE application_name = "
                                           "'intake-announce' AND datname = current_database()"),
                     2);
    free(say(c, "t4", "After the cut"));
    expect_customer_message(c, 5, "After the cut");
    expect_customer_message(other_node, 5, "After the cut");
    expect_customer_message(same_node, 5, "After the cut");

    ws_free(c);
    ws_free(same_node);
    ws_free(other_node);
    assert_int_equal(harness_gateway_stop(&other), 0);
    stop(&f);
}

/*
 * An announcer gathers the sessions it announces into few notifications,
 * "<session> <seq> <session> <seq> ...": every session named in one must
 * reach its sockets (a listener that read the first pair only left the
 * others waiting for their next event).
 */
static void test_one_notification_announces_many_sessions(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_many_in_one", NULL);
    struct ws_client *c[3];
    char token[128];
    for (int i = 0; i < 3; i++) {
        c[i] = open_chat(&f);
        free(hello_new(c[i], NULL, token, sizeof(token)));
        char id[16];
        snprintf(id, sizeof(id), "m%d", i);
        free(say(c[i], id, "Hello"));
        free(ws_recv_type(c[i], "notice", WAIT_MS));
    }
    /* Events written without a notification of their own, then one naming all three. */
    harness_pg_exec(f.pg, "UPDATE live_sessions SET last_seq = last_seq + 1");
    harness_pg_exec(f.pg,
                    "INSERT INTO session_events (session_id, seq, event) SELECT id, last_seq, "
                    "'{\"type\":\"message\",\"from\":\"agent\",\"text\":\"one for all\"}' "
                    "FROM live_sessions");
    harness_pg_exec(f.pg,
                    "SELECT pg_notify('intake_session', string_agg(id || ' ' || last_seq, ' ' "
                    "ORDER BY id)) FROM live_sessions");
    for (int i = 0; i < 3; i++) {
        char *m = ws_recv_type(c[i], "message", WAIT_MS);
        assert_non_null(m);
        assert_non_null(strstr(m, "one for all"));
        assert_int_equal(json_long(m, "seq"), 3);
        free(m);
        ws_free(c[i]);
    }
    stop(&f);
}

static void test_reply_api_refuses_bad_requests(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "chat_reply_api", NULL);
    char url[256];
    struct harness_response r;
    snprintf(url, sizeof(url), "%s/v1/tickets/SR-999999/replies", f.gw.base);
    harness_http("POST", url, HARNESS_TOKEN, "application/json", "{\"text\":\"hi\"}", 13, &r);
    assert_int_equal(r.status, 404);
    harness_response_free(&r);
    harness_http("POST", url, NULL, "application/json", "{\"text\":\"hi\"}", 13, &r);
    assert_int_equal(r.status, 401);
    harness_response_free(&r);
    harness_http("POST", url, HARNESS_TOKEN, "application/json", "{\"txt\":\"hi\"}", 12, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "txt"));
    harness_response_free(&r);
    snprintf(url, sizeof(url), "%s/v1/tickets/SR-1/other", f.gw.base);
    harness_http("POST", url, HARNESS_TOKEN, "application/json", "{\"text\":\"hi\"}", 13, &r);
    assert_int_equal(r.status, 404);
    harness_response_free(&r);
    stop(&f);
}

static void test_reply_after_the_customer_left_goes_by_email(void **state)
{
    (void)state;
    struct harness_smtp smtp;
    harness_smtp_start(&smtp, 0);
    char config[1024];
    snprintf(config, sizeof(config),
             "{\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"no\"},"
             "\"outbox\":{\"poll_ms\":100},\"channels\":{\"email\":{\"from_address\":"
             "\"help@desk.example\"},\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]}}}",
             smtp.port);
    struct fixture f;
    harness_db_create(&f.db, "chat_left");
    assert_int_equal(harness_migrate(f.db.url, NULL, 0), 0);
    harness_gateway_start_config(&f.gw, f.db.url, config, NULL);
    f.pg = harness_pg(f.db.url);

    /* Leaves before any agent answered: the reply goes to the address given. */
    struct ws_client *c = open_chat(&f);
    char token[128];
    free(hello_new(c, "{\"name\":\"Bo Chen\",\"email\":\"bo@example.org\"}", token, sizeof(token)));
    char *ack = say(c, "l1", "Please call me about my invoice");
    char *ticket = harness_json_str(ack, "ticket");
    assert_true(ws_send(c, "{\"type\":\"close\"}"));
    char reason[128];
    assert_int_equal(ws_wait_close(c, WAIT_MS, reason, sizeof(reason)), 4002);
    ws_free(c);
    assert_int_equal(post_reply(&f.gw, ticket, "We have corrected the invoice"), 1);
    assert_int_equal(harness_smtp_wait(&smtp, 1, 10000), 1);
    char *mail = harness_smtp_message(&smtp, 0);
    assert_non_null(mail);
    assert_non_null(strstr(mail, "bo@example.org"));
    assert_non_null(strstr(mail, ticket));
    assert_non_null(strstr(mail, "We have corrected the invoice"));
    free(mail);
    /* The customer's own reply to that mail would thread: the mail is kept on the ticket. */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE "
             "t.number = '%s' AND m.direction = 'out' AND m.external_ref LIKE 'reply.%%'",
             ticket);
    /* (The dispatcher records it after its pass, a moment after the mail arrived.) */
    long kept = 0;
    for (int i = 0; i < 50 && (kept = harness_pg_long(f.pg, sql)) != 1; i++)
        usleep(100 * 1000);
    assert_int_equal(kept, 1);

    /* Answered while present, then left: later replies wait in the session. */
    struct ws_client *d = open_chat(&f);
    free(hello_new(d, "{\"email\":\"eve@example.org\"}", token, sizeof(token)));
    char *ack2 = say(d, "l2", "Another question");
    char *ticket2 = harness_json_str(ack2, "ticket");
    assert_int_equal(post_reply(&f.gw, ticket2, "Here is the answer"), 0);
    assert_true(ws_send(d, "{\"type\":\"close\"}"));
    assert_int_equal(ws_wait_close(d, WAIT_MS, NULL, 0), 4002);
    assert_int_equal(post_reply(&f.gw, ticket2, "One more thing"), 0);
    ws_free(d);
    free(ack);
    free(ack2);
    free(ticket);
    free(ticket2);
    stop(&f);
    harness_smtp_stop(&smtp);
}

static void test_database_down_closes_with_1011_and_replies_get_503(void **state)
{
    (void)state;
    struct harness_gateway gw;
    char dead[160];
    harness_unreachable_db_url(dead, sizeof(dead));
    harness_gateway_start_config(
        &gw, dead, "{\"channels\":{\"chat\":{\"allowed_origins\":[\"" ORIGIN "\"]}}}", NULL);
    /* No session can be made: the client is told to come back, with nothing promised. */
    struct ws_client *c = ws_connect(gw.port, "/v1/chat", PROTOCOL, ORIGIN);
    assert_non_null(c);
    assert_true(ws_send(c, "{\"type\":\"hello\"}"));
    char reason[128];
    assert_int_equal(ws_wait_close(c, 15000, reason, sizeof(reason)), 1011);
    assert_string_equal(reason, "the gateway cannot reach its database");
    ws_free(c);
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/tickets/SR-000001/replies", gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "application/json", "{\"text\":\"hi\"}", 13, &r);
    assert_int_equal(r.status, 503);
    assert_true(atoi(r.retry_after) >= 1);
    harness_response_free(&r);
    assert_int_equal(harness_gateway_stop(&gw), 0);
}

/*
 * A message's answer carries the events its socket has not seen yet, numbered
 * as the session's log has them: built from what was just written when the
 * socket had seen everything before (the usual case), else read from the log.
 * Checked in SQL, where the socket's position can be set exactly.
 */
#define SESSION_MESSAGE(client, after)                                                             \
    "CREATE TEMP TABLE answer_" client " AS SELECT intake_session_message(jsonb_build_object("     \
    "'key', 'chat:t:" client "', 'channel', 'chat', 'body', 'text " client "', "                   \
    "'ticket_prefix', 'SR-', 'customer_prefix', 'CU-', 'no_ack_reason', 'in the session', "        \
    "'category', 'general', 'priority', 'normal', 'queue', 'general', 'first_response_s', 60, "    \
    "'handling_s', 3600, 'resolve_s', 86400, "                                                     \
    "'session', jsonb_build_object('id', (SELECT id FROM live_sessions), 'client_id', '" client    \
    "', 'after', " #after "))) a"
#define ANSWER_IS_THE_LOG(client, after)                                                           \
    "SELECT ((SELECT a->'events' FROM answer_" client ") = "                                       \
    "intake_session_log((SELECT id FROM live_sessions), " #after "))::int"
#define ANSWER_SEQS(client)                                                                        \
    "SELECT string_agg(e->>'seq', ',' ORDER BY o) FROM answer_" client ", "                        \
    "jsonb_array_elements(a->'events') WITH ORDINALITY AS x(e, o)"

static void test_message_answer_carries_the_events_the_socket_missed(void **state)
{
    (void)state;
    struct harness_db db;
    harness_db_create(&db, "chat_answer");
    assert_int_equal(harness_migrate(db.url, NULL, 0), 0);
    PGconn *pg = harness_pg(db.url);
    harness_pg_exec(pg, "SELECT intake_session_open(jsonb_build_object('token_hash', "
                        "repeat('ab', 32), 'visitor', 'v-answer', 'channel', 'chat', "
                        "'name', 'Ana'))");

    /* The first message: the message and the ticket's notice. */
    harness_pg_exec(pg, SESSION_MESSAGE("m1", 0));
    char *seqs = harness_pg_text(pg, ANSWER_SEQS("m1"));
    assert_string_equal(seqs, "1,2");
    free(seqs);
    assert_int_equal(harness_pg_long(pg, ANSWER_IS_THE_LOG("m1", 0)), 1);

    /* An agent's reply (3) the socket has not been sent yet comes with the next message (4). */
    harness_pg_exec(pg, "SELECT intake_ticket_reply(jsonb_build_object('ticket', "
                        "(SELECT number FROM tickets), 'text', 'On it', 'agent', 'Bo', "
                        "'key', 'r1'))");
    harness_pg_exec(pg, SESSION_MESSAGE("m2", 2));
    seqs = harness_pg_text(pg, ANSWER_SEQS("m2"));
    assert_string_equal(seqs, "3,4");
    free(seqs);
    assert_int_equal(harness_pg_long(pg, ANSWER_IS_THE_LOG("m2", 2)), 1);

    /* A socket that has everything gets its own message only. */
    harness_pg_exec(pg, SESSION_MESSAGE("m3", 4));
    seqs = harness_pg_text(pg, ANSWER_SEQS("m3"));
    assert_string_equal(seqs, "5");
    free(seqs);
    assert_int_equal(harness_pg_long(pg, ANSWER_IS_THE_LOG("m3", 4)), 1);
    assert_int_equal(harness_pg_long(pg, "SELECT last_seq FROM live_sessions"), 5);
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM session_events"), 5);
    assert_int_equal(harness_pg_long(pg, "SELECT count(*) FROM tickets"), 1);
    PQfinish(pg);
    harness_db_drop(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_message_registers_a_ticket_and_is_acknowledged),
        cmocka_unit_test(test_chinese_browser_gets_a_chinese_acknowledgement),
        cmocka_unit_test(test_agent_reply_arrives_live_and_resume_replays_only_what_was_missed),
        cmocka_unit_test(test_resent_client_id_is_stored_once),
        cmocka_unit_test(test_message_answer_carries_the_events_the_socket_missed),
        cmocka_unit_test(test_oversized_message_closes_with_1009),
        cmocka_unit_test(test_malformed_messages_get_errors_then_a_close),
        cmocka_unit_test(test_wrong_or_missing_origin_is_closed),
        cmocka_unit_test(test_fast_sender_is_rate_limited),
        cmocka_unit_test(test_unknown_token_closes_with_4001),
        cmocka_unit_test(test_hello_must_come_in_time),
        cmocka_unit_test(test_silent_client_is_pinged_then_closed_when_idle),
        cmocka_unit_test(test_reply_posted_on_another_gateway_reaches_the_customer),
        cmocka_unit_test(test_customer_message_reaches_the_sessions_other_sockets_on_both_gateways),
        cmocka_unit_test(test_one_notification_announces_many_sessions),
        cmocka_unit_test(test_reply_api_refuses_bad_requests),
        cmocka_unit_test(test_reply_after_the_customer_left_goes_by_email),
        cmocka_unit_test(test_database_down_closes_with_1011_and_replies_get_503),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
