/*
 * The chat benchmark's client (bench/chat-run): many WebSocket sessions from
 * one libwebsockets client context.
 *   1. opens N sessions (hello, then the welcome), prints "held N", and waits
 *      for a line on stdin (the script reads the server's memory meanwhile);
 *   2. with --warm W, W sessions that are not among the active ones send one
 *      message each (not measured) and the client waits a second: the gateway's
 *      database connection runs its PL/pgSQL functions for the first time
 *      there (compiling them and planning their statements, ~30 ms once per
 *      connection), not inside the measured phase;
 *   3. makes A of them active: each sends a message every interval, and the
 *      time from sending to the server's ack (the commit) is recorded;
 *      meanwhile, with a database URL, a second thread posts agent replies on
 *      the active sessions' tickets (intake_ticket_reply, as another gateway
 *      or an agent tool would), and the time until the customer's socket gets
 *      the reply is recorded;
 *   4. prints both latency distributions and exits; with --trace FILE, it first
 *      writes each acked message's send time (seconds into the active phase)
 *      and latency (ms) to FILE, to see when the slow ones were sent.
 * With --echo (the bare lws reference), any message echoed with the client
 * id counts as the ack. Usage:
 *   chat-load PORT N ACTIVE SECONDS INTERVAL_MS [--echo] [--db URL --replies-per-s R] [--poll]
 *             [--warm W] [--trace FILE]
 * The client runs lws on a libev loop (epoll): with lws's default poll() loop
 * every 1 ms wake-up scans all N sockets, and the client alone then takes most
 * of a core at 10,000 sessions (--poll keeps that loop, for comparison).
 */
#include <ev.h>
#include <libpq-fe.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPEN_PER_ROUND 100
#define MAX_SAMPLES    (2 * 1000 * 1000)
#define PENDING_RING   8

struct conn {
    struct lws *wsi;
    int idx;
    int welcomed;
    int active;
    char out[512];
    size_t out_len;
    int out_ready;
    long next_msg; /* message counter */
    double sent_at[PENDING_RING];
    double next_send; /* monotonic seconds */
    char ticket[32];
};

static struct conn *conns;
static int n_conns, n_active, echo_mode;
static int established, welcomed, failed;
static double *ack_lat, *reply_lat;
static double *first_lat, *later_lat; /* a session's first message (opens a ticket), the rest */
static size_t n_ack, n_reply, n_sent, n_first, n_later, n_warm_acked;
static double *ack_sent_at; /* with --trace: when each acked message was sent */
static double active_start;
static pthread_mutex_t tickets_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void queue_text(struct conn *c, const char *text)
{
    c->out_len = (size_t)snprintf(c->out, sizeof(c->out), "%s", text);
    c->out_ready = 1;
    lws_callback_on_writable(c->wsi);
}

/* The ticket a session's first ack names: where the replier posts. */
static void remember_ticket(struct conn *c, const char *msg)
{
    const char *t = strstr(msg, "\"ticket\":\"");
    if (t && !c->ticket[0]) {
        pthread_mutex_lock(&tickets_lock);
        sscanf(t + 10, "%31[^\"]", c->ticket);
        pthread_mutex_unlock(&tickets_lock);
    }
}

static void on_text(struct conn *c, const char *in, size_t len)
{
    char msg[2048];
    size_t n = len < sizeof(msg) - 1 ? len : sizeof(msg) - 1;
    memcpy(msg, in, n);
    msg[n] = '\0';
    double now = now_s();
    if (!c->welcomed) {
        c->welcomed = 1;
        welcomed++;
        return;
    }
    const char *id = strstr(msg, "\"client_id\":\"b");
    int is_ack = echo_mode ? strstr(msg, "\"type\":\"message\"") != NULL
                           : strstr(msg, "\"type\":\"ack\"") != NULL;
    if (is_ack && strstr(msg, "\"client_id\":\"warm-")) {
        n_warm_acked++;
        remember_ticket(c, msg);
        return;
    }
    if (id && is_ack) {
        long k = strtol(strchr(id + 13, '-') + 1, NULL, 10);
        if (n_ack < MAX_SAMPLES) {
            double lat = now - c->sent_at[k % PENDING_RING];
            if (ack_sent_at)
                ack_sent_at[n_ack] = c->sent_at[k % PENDING_RING] - active_start;
            ack_lat[n_ack++] = lat;
            if (k == 0)
                first_lat[n_first++] = lat;
            else
                later_lat[n_later++] = lat;
        }
        remember_ticket(c, msg);
        return;
    }
    const char *agent = strstr(msg, "\"text\":\"agent-");
    if (agent && strstr(msg, "\"from\":\"agent\"") && n_reply < MAX_SAMPLES)
        reply_lat[n_reply++] = now - strtod(agent + 14, NULL) / 1e6;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    struct conn *c = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        established++;
        queue_text(c, "{\"type\":\"hello\",\"lang\":\"en\"}");
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        failed++;
        if (c)
            c->wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c && lws_is_final_fragment(wsi))
            on_text(c, in, len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c && c->out_ready) {
            unsigned char buf[LWS_PRE + 512];
            memcpy(buf + LWS_PRE, c->out, c->out_len);
            c->out_ready = 0;
            if (lws_write(wsi, buf + LWS_PRE, c->out_len, LWS_WRITE_TEXT) < 0)
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) {
            c->wsi = NULL;
            failed++;
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"chat-load", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws_service sleeps until something happens; this makes sure that is soon. */
static lws_sorted_usec_list_t tick;
static void on_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
}

/*
 * With --poll, lws's own poll() loop (every wake-up scans every socket); else
 * libev (epoll), which this program runs itself: lws 4.1's lws_service() would
 * run it until stopped, and an lws timer set while the loop sleeps is not seen
 * until the next socket event, hence a libev timer for the tick.
 */
static struct ev_loop *loop;
static ev_timer ev_tick;

static void on_ev_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l, (void)w, (void)revents;
}

static void service(struct lws_context *ctx)
{
    if (loop) {
        ev_run(loop, EVRUN_ONCE);
        return;
    }
    lws_sul_schedule(ctx, 0, &tick, on_tick, 1000); /* 1 ms: the send schedule's grain */
    lws_service(ctx, 0);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *v, size_t n)
{
    if (!n) {
        printf("%s: no samples\n", what);
        return;
    }
    qsort(v, n, sizeof(*v), by_value);
    printf("%s: n=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", what, n, v[n / 2] * 1e3,
           v[(size_t)((double)n * 0.99)] * 1e3, v[n - 1] * 1e3);
}

/* One line per acked message, before report() sorts the latencies: sent at (s), latency (ms). */
static void write_trace(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    for (size_t i = 0; i < n_ack; i++)
        fprintf(f, "%.6f %.3f\n", ack_sent_at[i], ack_lat[i] * 1e3);
    fclose(f);
}

struct replier {
    PGconn *pg;
    double per_s;
    volatile int stop;
    long sent;
};

static int post_reply(PGconn *pg, const char *ticket, const char *text)
{
    char doc[256];
    snprintf(doc, sizeof(doc), "{\"ticket\":\"%s\",\"agent\":\"bench\",\"text\":\"%s\"}", ticket,
             text);
    const char *params[] = {doc};
    PGresult *res =
        PQexecParams(pg, "SELECT intake_ticket_reply($1::jsonb)", 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok;
}

/*
 * The replier's connection, made and used once before the measured phase (a
 * reply on a warm-up session's ticket). A new backend's start and its first
 * call, which compiles the reply's PL/pgSQL (~20 ms more than a later call,
 * holding that ticket's lock), would otherwise land in the measured phase's
 * first second; an agent tool's long-lived connection does not pay them.
 */
static PGconn *replier_connect(const char *db_url, int first_warm, int n_warm)
{
    PGconn *pg = PQconnectdb(db_url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "replier: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    for (int i = first_warm; i < first_warm + n_warm; i++)
        if (conns[i].ticket[0]) {
            post_reply(pg, conns[i].ticket, "warm-up reply");
            break;
        }
    return pg;
}

/* Agent replies on random active sessions' tickets, straight into the database. */
static void *replier_main(void *arg)
{
    struct replier *r = arg;
    PGconn *pg = r->pg;
    unsigned seed = 42;
    double next = now_s();
    while (!r->stop) {
        double now = now_s();
        if (now < next) {
            struct timespec ts = {0, (long)((next - now) * 1e9)};
            nanosleep(&ts, NULL);
            continue;
        }
        next += 1.0 / r->per_s;
        char ticket[32] = "";
        int idx = (int)(rand_r(&seed) % (unsigned)n_active);
        pthread_mutex_lock(&tickets_lock);
        snprintf(ticket, sizeof(ticket), "%s", conns[idx].ticket);
        pthread_mutex_unlock(&tickets_lock);
        if (!ticket[0])
            continue;
        char text[40];
        snprintf(text, sizeof(text), "agent-%.0f", now_s() * 1e6);
        if (post_reply(pg, ticket, text))
            r->sent++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: chat-load PORT N ACTIVE SECONDS INTERVAL_MS [--echo] "
                        "[--db URL --replies-per-s R] [--poll] [--warm W] [--trace FILE]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    n_conns = atoi(argv[2]);
    n_active = atoi(argv[3]);
    double secs = atof(argv[4]), interval = atof(argv[5]) / 1000.0;
    int use_poll = 0, n_warm = 0;
    const char *db_url = NULL, *trace_path = NULL;
    double replies_per_s = 0;
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "--echo"))
            echo_mode = 1;
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db_url = argv[++i];
        else if (!strcmp(argv[i], "--replies-per-s") && i + 1 < argc)
            replies_per_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--poll"))
            use_poll = 1;
        else if (!strcmp(argv[i], "--warm") && i + 1 < argc)
            n_warm = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--trace") && i + 1 < argc)
            trace_path = argv[++i];
    }
    conns = calloc((size_t)n_conns, sizeof(*conns));
    if (trace_path && !(ack_sent_at = malloc(MAX_SAMPLES * sizeof(double))))
        return 1;
    ack_lat = malloc(MAX_SAMPLES * sizeof(double));
    first_lat = malloc(MAX_SAMPLES * sizeof(double));
    later_lat = malloc(MAX_SAMPLES * sizeof(double));
    reply_lat = malloc(MAX_SAMPLES * sizeof(double));
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    void *foreign[1] = {NULL};
    if (!use_poll && (foreign[0] = loop = ev_loop_new(EVBACKEND_EPOLL)) != NULL) {
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = foreign;
    }
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx || !conns || !ack_lat || !reply_lat || !first_lat || !later_lat)
        return 1;
    if (loop) {
        ev_timer_init(&ev_tick, on_ev_tick, 0.001, 0.001);
        ev_timer_start(loop, &ev_tick);
    }

    /* 1. Open every session. */
    double t0 = now_s();
    int opened = 0;
    while (welcomed + failed < n_conns && now_s() - t0 < 120) {
        for (int k = 0; k < OPEN_PER_ROUND && opened < n_conns; k++, opened++) {
            struct conn *c = &conns[opened];
            c->idx = opened;
            struct lws_client_connect_info ci;
            memset(&ci, 0, sizeof(ci));
            ci.context = ctx;
            ci.address = "127.0.0.1";
            ci.port = port;
            ci.path = "/v1/chat";
            ci.host = "127.0.0.1";
            ci.origin = "127.0.0.1";
            ci.protocol = "intake-chat.v1";
            ci.local_protocol_name = "chat-load";
            ci.opaque_user_data = c;
            ci.pwsi = &c->wsi;
            if (!lws_client_connect_via_info(&ci))
                failed++;
        }
        service(ctx);
    }
    printf("held %d sessions in %.1f s (%d failed)\n", welcomed, now_s() - t0, failed);
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof(line), stdin))
        return 1;

    if (n_active > welcomed)
        n_active = welcomed;
    /* 2. Warm-up: sessions after the active ones send one message each, spread over 1 s. */
    if (n_warm > welcomed - n_active)
        n_warm = welcomed - n_active;
    double warm_start = now_s();
    size_t queued = 0;
    for (int sent = 0; (sent < n_warm || n_warm_acked < queued) && now_s() - warm_start < 30;) {
        while (sent < n_warm && now_s() - warm_start >= (double)sent / n_warm) {
            struct conn *c = &conns[n_active + sent++];
            if (!c->wsi)
                continue;
            queued++;
            queue_text(c, "{\"type\":\"message\",\"client_id\":\"warm-1\","
                          "\"text\":\"warm-up message\"}");
        }
        service(ctx);
    }
    PGconn *reply_pg = db_url && replies_per_s > 0 && !echo_mode
                           ? replier_connect(db_url, n_active, n_warm)
                           : NULL;
    for (double settle = now_s(); n_warm && now_s() - settle < 1.0;)
        service(ctx);
    if (n_warm)
        printf("warm-up: %d sessions sent one message each, %zu acked\n", n_warm, n_warm_acked);

    /* 3. Active sessions send; replies come from the database side. */
    double start = active_start = now_s();
    for (int i = 0; i < n_active; i++) {
        conns[i].active = 1;
        conns[i].next_send = start + interval * i / n_active; /* spread over the interval */
    }
    struct replier rep = {reply_pg, replies_per_s, 0, 0};
    pthread_t rt;
    int replying = reply_pg && pthread_create(&rt, NULL, replier_main, &rep) == 0;
    while (now_s() - start < secs) {
        double now = now_s();
        for (int i = 0; i < n_active; i++) {
            struct conn *c = &conns[i];
            if (!c->wsi || c->out_ready || now < c->next_send)
                continue;
            long k = c->next_msg++;
            char msg[160];
            snprintf(
                msg, sizeof(msg),
                "{\"type\":\"message\",\"client_id\":\"b%d-%ld\",\"text\":\"load message %ld\"}", i,
                k, k);
            c->sent_at[k % PENDING_RING] = now;
            c->next_send += interval;
            n_sent++;
            queue_text(c, msg);
        }
        service(ctx);
    }
    /*
     * Stop replying, then let the last answers and replies arrive: a reply
     * posted during the drain could otherwise miss the count.
     */
    if (replying) {
        rep.stop = 1;
        pthread_join(rt, NULL);
    }
    if (reply_pg)
        PQfinish(reply_pg);
    double drain = now_s();
    while (now_s() - drain < 1.0)
        service(ctx);
    printf("active %d sessions for %.0f s, one message per %.0f ms each: sent %zu, acked %zu\n",
           n_active, secs, interval * 1e3, n_sent, n_ack);
    if (trace_path)
        write_trace(trace_path);
    report("message to ack", ack_lat, n_ack);
    /* Where the time goes: a first message opens a ticket (customer, ticket, notice). */
    report("  first message of a session", first_lat, n_first);
    report("  later messages", later_lat, n_later);
    if (replying) {
        printf("agent replies posted %ld, received %zu\n", rep.sent, n_reply);
        report("agent reply to customer", reply_lat, n_reply);
    }
    fflush(stdout);
    lws_sul_cancel(&tick);
    if (loop)
        ev_timer_stop(loop, &ev_tick);
    lws_context_destroy(ctx);
    if (loop)
        ev_loop_destroy(loop);
    free(conns);
    free(ack_lat);
    free(ack_sent_at);
    free(first_lat);
    free(later_lat);
    free(reply_lat);
    return 0;
}
