/*
 * A blocking WebSocket client for tests, on libwebsockets' client side: one
 * lws context per connection, serviced only while the test waits, so a test
 * reads like a conversation (send, then expect).
 */
#ifndef WS_CLIENT_H
#define WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct ws_client;

/*
 * Connects to ws://127.0.0.1:port/path asking for protocol (NULL: none),
 * with an Origin header (NULL: none; lws can only send http:// origins).
 * NULL when the handshake failed.
 */
struct ws_client *ws_connect(int port, const char *path, const char *protocol, const char *origin);
/* The same as if through a proxy: the handshake carries X-Forwarded-For: forwarded_for. */
struct ws_client *ws_connect_forwarded(int port, const char *path, const char *protocol,
                                       const char *origin, const char *forwarded_for);
/* The same over TLS (wss://), trusting the CA certificates in ca_file only. */
struct ws_client *ws_connect_tls(int port, const char *path, const char *protocol,
                                 const char *origin, const char *ca_file);
/* Queues one message and waits until it is written. */
bool ws_send(struct ws_client *c, const char *text);
bool ws_send_raw(struct ws_client *c, const void *data, size_t len, bool binary);
/* The next message (malloc'd), or NULL on close or after timeout_ms. */
char *ws_recv(struct ws_client *c, int timeout_ms);
/* The next message whose "type" is type, skipping others; NULL as above. */
char *ws_recv_type(struct ws_client *c, const char *type, int timeout_ms);
/* Waits for the server to close; returns its close code (0: none within timeout_ms). */
int ws_wait_close(struct ws_client *c, int timeout_ms, char *reason, size_t reason_len);
bool ws_is_closed(struct ws_client *c);
/* Ends the connection without a close frame, like a dropped network. */
void ws_free(struct ws_client *c);

#endif
