/*
 * The HTTP server: one libwebsockets event loop that routes requests to the
 * channels' routes and the built-in health, readiness and metrics endpoints,
 * and hands contacts to the intake workers. Nothing on the loop blocks.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include "gw_error.h"

struct gw_config;
struct gw_intake;
struct gw_server;

/* Binds the listen address and starts the intake workers. */
GW_MUST_USE enum gw_err gw_server_create(const struct gw_config *cfg, struct gw_server **out);
/* Borrowed; lives as long as the server. */
struct gw_intake *gw_server_intake(struct gw_server *srv);
struct gw_spool;
/* Gives the server (and its workers) the spool, borrowed; before gw_server_run. */
void gw_server_set_spool(struct gw_server *srv, struct gw_spool *spool);
/*
 * Serves until SIGTERM or SIGINT, then stops taking new contacts, finishes the
 * ones in flight (at most drain_s seconds) and returns.
 */
void gw_server_run(struct gw_server *srv, int drain_s);
void gw_server_destroy(struct gw_server *srv);

#endif
