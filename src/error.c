/* Human strings for enum gw_err; indexed by the enum so a new code needs a new row. */
#include "gw_error.h"

static const char *const messages[GW_ERR__COUNT] = {
    [GW_OK] = "ok",
    [GW_ERR_NOMEM] = "out of memory",
    [GW_ERR_INVALID] = "invalid input",
    [GW_ERR_TOO_LARGE] = "input too large",
    [GW_ERR_UNAUTHORIZED] = "authentication required",
    [GW_ERR_FORBIDDEN] = "credentials rejected",
    [GW_ERR_NOT_FOUND] = "not found",
    [GW_ERR_DB_UNAVAILABLE] = "database unavailable",
    [GW_ERR_DB] = "database error",
    [GW_ERR_CONFIG] = "configuration error",
    [GW_ERR_IO] = "i/o error",
    [GW_ERR_SHUTTING_DOWN] = "shutting down",
    [GW_ERR_BUSY] = "busy",
    [GW_ERR_DELIVERY] = "delivery failed",
    [GW_ERR_UNREACHABLE] = "receiver unreachable",
};

const char *gw_strerror(enum gw_err err)
{
    if ((unsigned)err >= GW_ERR__COUNT || !messages[err])
        return "unknown error";
    return messages[err];
}
