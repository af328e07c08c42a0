/*
 * The chat channel: the widget's pages (compiled in from assets/) and the
 * socket route. Acknowledgements are events of the live session, not outbox
 * deliveries, so render_ack has nothing to send.
 */
#include <string.h>

#include "chat.h"
#include "gw_asset.h"
#include "gw_socket.h"

extern const struct gw_asset gw_assets_chat[];
extern const size_t gw_n_assets_chat;

static bool serve_asset(const char *name, const char *type, struct gw_http_reply *reply)
{
    gw_asset_reply(gw_assets_chat, gw_n_assets_chat, name, type, reply);
    return false;
}

static bool answer_page(const struct gw_http_request *req, struct gw_arena *arena,
                        struct gw_intake_job *job, struct gw_http_reply *reply)
{
    (void)req;
    (void)arena;
    (void)job;
    return serve_asset("index.html", "text/html; charset=utf-8", reply);
}

static bool answer_widget(const struct gw_http_request *req, struct gw_arena *arena,
                          struct gw_intake_job *job, struct gw_http_reply *reply)
{
    (void)req;
    (void)arena;
    (void)job;
    return serve_asset("widget.js", "text/javascript; charset=utf-8", reply);
}

static const struct gw_route chat_routes[] = {
    {.method = "GET", .path = "/chat/", .answer = answer_page},
    {.method = "GET", .path = "/chat/widget.js", .answer = answer_widget},
};

/* db/functions/sessions.sql */
const struct gw_operation chat_operations[CHAT_OP__COUNT] = {
    [CHAT_OP_OPEN] = {"chat_session_open", "intake_session_open"},
    [CHAT_OP_LEAVE] = {"chat_session_leave", "intake_session_leave"},
};

static enum gw_err render_ack(const json_t *ack, const struct gw_config *cfg,
                              struct gw_arena *arena, struct gw_delivery *out)
{
    (void)ack;
    (void)cfg;
    (void)arena;
    memset(out, 0, sizeof(*out));
    out->kind = GW_DELIVER_NONE;
    out->why_none = "acknowledged in the chat session";
    return GW_OK;
}

const struct gw_channel gw_channel_chat = {
    .name = CHAT_CHANNEL,
    .routes = chat_routes,
    .n_routes = sizeof(chat_routes) / sizeof(chat_routes[0]),
    .socket_routes = &chat_socket_route,
    .n_socket_routes = 1,
    .operations = chat_operations,
    .n_operations = CHAT_OP__COUNT,
    .check_config = chat_check_config,
    .render_ack = render_ack,
};
