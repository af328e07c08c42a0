/*
 * Database connections, for whatever needs one of its own: the core's
 * threads, and an adapter's one-shot commands (a CLI that calls one of the
 * database's functions). Each thread owns its connections; nothing here is
 * shared. The schema's side (migrations, versions) is the core's
 * (src/gw_schema.h).
 */
#ifndef GW_DB_H
#define GW_DB_H

#include <libpq-fe.h>

#include "gw_error.h"

/*
 * Connects with a short timeout; on GW_OK *out is the caller's (PQfinish).
 * app_name (a string literal) names the connection in log lines for its life.
 */
GW_MUST_USE enum gw_err gw_db_connect(const char *url, const char *app_name, PGconn **out);

/* True when the SQLSTATE of res means "try the same work again". */
int gw_db_is_retryable(const PGresult *res);
/* True when the connection is gone (the caller reconnects). */
int gw_db_is_broken(PGconn *conn);

#endif
