/* The test WebSocket client (see ws_client.h). */
#include "ws_client.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct msg {
    struct msg *next;
    char *text;
};

struct ws_client {
    struct lws_context *ctx;
    struct lws *wsi;
    bool established, failed, closed;
    int close_code;
    char close_reason[128];
    struct msg *head, *tail; /* received, not yet taken */
    char *partial;
    size_t partial_len;
    unsigned char *out; /* one message waiting to be written (LWS_PRE in front) */
    size_t out_len;
    bool out_binary;
    const char *forwarded_for;       /* an X-Forwarded-For header to send, or NULL */
    lws_sorted_usec_list_t deadline; /* wakes lws_service when a wait is over */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_passed(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* waking lws_service was the point */
}

/*
 * One turn of the client's loop, returning by the deadline at the latest.
 * lws_service ignores its timeout and sleeps until its next timer, up to 30 s
 * on an idle connection: a timer of ours ends the wait on time.
 */
static void service_until(struct ws_client *c, long long until)
{
    long long left = until - now_ms();
    if (left <= 0)
        return;
    lws_sul_schedule(c->ctx, 0, &c->deadline, deadline_passed, (lws_usec_t)left * LWS_US_PER_MS);
    lws_service(c->ctx, 0);
    lws_sul_cancel(&c->deadline);
}

static void push(struct ws_client *c, char *text)
{
    struct msg *m = calloc(1, sizeof(*m));
    m->text = text;
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    struct ws_client *c = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (c->forwarded_for) {
            unsigned char **p = in, *end = *p + len;
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-forwarded-for:",
                                            (const unsigned char *)c->forwarded_for,
                                            (int)strlen(c->forwarded_for), p, end))
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->established = true;
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        c->failed = true;
        c->wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        c->partial = realloc(c->partial, c->partial_len + len + 1);
        memcpy(c->partial + c->partial_len, in, len);
        c->partial_len += len;
        c->partial[c->partial_len] = '\0';
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            push(c, c->partial);
            c->partial = NULL;
            c->partial_len = 0;
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *p = in;
            c->close_code = p[0] << 8 | p[1];
            size_t n =
                len - 2 < sizeof(c->close_reason) - 1 ? len - 2 : sizeof(c->close_reason) - 1;
            memcpy(c->close_reason, p + 2, n);
            c->close_reason[n] = '\0';
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->out) {
            lws_write(wsi, c->out + LWS_PRE, c->out_len,
                      c->out_binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
            free(c->out);
            c->out = NULL;
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        c->closed = true;
        c->wsi = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols client_protocols[] = {
    {"test-client", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static struct ws_client *connect_to(int port, const char *path, const char *protocol,
                                    const char *origin, const char *ca_file,
                                    const char *forwarded_for)
{
    struct ws_client *c = calloc(1, sizeof(*c));
    c->forwarded_for = forwarded_for;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = client_protocols;
    info.user = c;
    if (ca_file) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = ca_file;
    }
    lws_set_log_level(0, NULL);
    c->ctx = lws_create_context(&info);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = c->ctx;
    ci.address = "127.0.0.1";
    ci.port = port;
    ci.path = path;
    ci.host = "127.0.0.1";
    /* lws writes "Origin: http://" + this, so an http origin goes without its scheme. */
    ci.origin = origin && !strncmp(origin, "http://", 7) ? origin + 7 : origin;
    ci.protocol = protocol;
    ci.local_protocol_name = "test-client";
    ci.pwsi = &c->wsi;
    /* The certificate is verified against ca_file, and its name against 127.0.0.1. */
    ci.ssl_connection = ca_file ? LCCSCF_USE_SSL : 0;
    if (!c->ctx || !lws_client_connect_via_info(&ci)) {
        ws_free(c);
        return NULL;
    }
    long long until = now_ms() + 5000;
    while (!c->established && !c->failed && !c->closed && now_ms() < until)
        service_until(c, until);
    if (!c->established) {
        ws_free(c);
        return NULL;
    }
    return c;
}

struct ws_client *ws_connect(int port, const char *path, const char *protocol, const char *origin)
{
    return connect_to(port, path, protocol, origin, NULL, NULL);
}

struct ws_client *ws_connect_tls(int port, const char *path, const char *protocol,
                                 const char *origin, const char *ca_file)
{
    return connect_to(port, path, protocol, origin, ca_file, NULL);
}

struct ws_client *ws_connect_forwarded(int port, const char *path, const char *protocol,
                                       const char *origin, const char *forwarded_for)
{
    return connect_to(port, path, protocol, origin, NULL, forwarded_for);
}

bool ws_send_raw(struct ws_client *c, const void *data, size_t len, bool binary)
{
    if (!c->wsi || c->closed)
        return false;
    c->out = malloc(LWS_PRE + len);
    memcpy(c->out + LWS_PRE, data, len);
    c->out_len = len;
    c->out_binary = binary;
    lws_callback_on_writable(c->wsi);
    long long until = now_ms() + 5000;
    while (c->out && !c->closed && now_ms() < until)
        service_until(c, until);
    return !c->out;
}

bool ws_send(struct ws_client *c, const char *text)
{
    return ws_send_raw(c, text, strlen(text), false);
}

char *ws_recv(struct ws_client *c, int timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    while (!c->head && !c->closed && now_ms() < until)
        service_until(c, until);
    struct msg *m = c->head;
    if (!m)
        return NULL;
    c->head = m->next;
    if (!c->head)
        c->tail = NULL;
    char *text = m->text;
    free(m);
    return text;
}

char *ws_recv_type(struct ws_client *c, const char *type, int timeout_ms)
{
    char want[64];
    snprintf(want, sizeof(want), "\"type\":\"%s\"", type);
    long long until = now_ms() + timeout_ms;
    for (;;) {
        long long left = until - now_ms();
        char *m = ws_recv(c, left > 0 ? (int)left : 0);
        if (!m || strstr(m, want))
            return m;
        free(m);
    }
}

int ws_wait_close(struct ws_client *c, int timeout_ms, char *reason, size_t reason_len)
{
    long long until = now_ms() + timeout_ms;
    while (!c->closed && now_ms() < until)
        service_until(c, until);
    if (reason && reason_len)
        snprintf(reason, reason_len, "%s", c->close_reason);
    return c->closed ? c->close_code : 0;
}

bool ws_is_closed(struct ws_client *c)
{
    return c->closed;
}

void ws_free(struct ws_client *c)
{
    if (!c)
        return;
    if (c->ctx)
        lws_context_destroy(c->ctx);
    while (c->head) {
        struct msg *m = c->head;
        c->head = m->next;
        free(m->text);
        free(m);
    }
    free(c->partial);
    free(c->out);
    free(c);
}
