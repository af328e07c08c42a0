/*
 * The web chat channel: a widget on the customer's page talks JSON over a
 * WebSocket (/v1/chat, subprotocol intake-chat.v1; docs/chat.md has the
 * protocol). Each browser holds a live session (db/functions/sessions.sql)
 * whose events are numbered, so the widget survives reloads and drops.
 */
#ifndef CHAT_H
#define CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_arena.h"
#include "gw_channel.h"
#include "gw_ratelimit.h"

#define CHAT_CHANNEL  "chat"
#define CHAT_PROTOCOL "intake-chat.v1"
#define CHAT_PATH     "/v1/chat"

/* Application close codes (4000-4999 are ours under RFC 6455). */
#define CHAT_CLOSE_UNKNOWN_SESSION 4001 /* the token names no session: start a new one */
#define CHAT_CLOSE_ENDED           4002 /* the customer ended the conversation */

#define CHAT_CLIENT_ID_MAX  64
#define CHAT_TEXT_MAX       4000 /* characters in one message */
#define CHAT_NAME_MAX       100
#define CHAT_MESSAGE_MAX    8192 /* bytes in one WebSocket message; longer ones close (1009) */
#define CHAT_TYPING_EVERY_S 2.0  /* at most one "customer is typing" per socket this often */

struct chat_settings {
    char **origins; /* allowed Origin values ("scheme://host[:port]"); "*" allows any */
    size_t n_origins;
    double session_per_minute; /* messages one session may send */
    double address_per_minute; /* messages all sockets of one address may send */
    int hello_timeout_s;       /* the first message must come within */
    int invalid_before_close;  /* errors a socket may cause before it is closed */
};

/* The database operations of a chat socket besides the core's session fetch (chat_channel.c). */
enum chat_operation { CHAT_OP_OPEN, CHAT_OP_LEAVE, CHAT_OP__COUNT };
extern const struct gw_operation chat_operations[CHAT_OP__COUNT];

/* channels.chat, with defaults; the allowed origin defaults to public_url's. */
void chat_settings_read(const struct gw_config *cfg, struct chat_settings *s);
void chat_settings_free(struct chat_settings *s);
void chat_check_config(const json_t *section, struct gw_problems *problems);
bool chat_origin_allowed(const struct chat_settings *s, const char *origin);

/* A message from the widget, checked; strings in the arena. */
enum chat_frame_type { CHAT_HELLO, CHAT_MESSAGE, CHAT_TYPING, CHAT_CLOSE };

struct chat_frame {
    enum chat_frame_type type;
    /* hello */
    const char *token; /* NULL: a new session */
    long long last_seq;
    const char *language; /* "zh", "en" or NULL */
    const char *name, *email, *phone;
    /* message */
    const char *client_id;
    const char *text;
};

/* What was wrong with a frame: a code for programs, a reason for people. */
struct chat_problem {
    const char *code;
    const char *reason;
    const char *field; /* NULL when not about one field */
};

/* true: *out holds the frame; false: *problem says why it was refused. */
bool chat_parse_frame(const char *data, size_t len, struct gw_arena *arena, struct chat_frame *out,
                      struct chat_problem *problem);

/* Server messages, JSON text in the arena. */
char *chat_error_json(struct gw_arena *arena, const struct chat_problem *p, const char *client_id);
/*
 * One stored event as the widget gets it; an acknowledgement notice gains
 * its words (ticket, response promise) in the session's language.
 */
char *chat_event_json(struct gw_arena *arena, json_t *event);
/* The acknowledgement's words for a "received"/"reopened" notice. */
char *chat_notice_text(struct gw_arena *arena, const json_t *event);

bool chat_new_visitor(char *out, size_t cap);

extern const struct gw_socket_route chat_socket_route;

#endif
