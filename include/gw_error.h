/*
 * One error enum for the whole gateway. Functions return it and write their
 * out-parameters only on GW_OK. The list is append-only so numbers stay stable
 * in logs; gw_strerror() never returns NULL.
 */
#ifndef GW_ERROR_H
#define GW_ERROR_H

#define GW_MUST_USE __attribute__((warn_unused_result))

enum gw_err {
    GW_OK = 0,
    GW_ERR_NOMEM,          /* allocation failed */
    GW_ERR_INVALID,        /* malformed or missing input */
    GW_ERR_TOO_LARGE,      /* input over a hard cap */
    GW_ERR_UNAUTHORIZED,   /* no credentials */
    GW_ERR_FORBIDDEN,      /* wrong credentials */
    GW_ERR_NOT_FOUND,      /* no such route or record */
    GW_ERR_DB_UNAVAILABLE, /* database unreachable: the sender should retry */
    GW_ERR_DB,             /* the database refused the work */
    GW_ERR_CONFIG,         /* configuration problem */
    GW_ERR_IO,             /* file or socket error */
    GW_ERR_SHUTTING_DOWN,  /* not accepting new work */
    GW_ERR_BUSY,           /* queue full: retry later */
    GW_ERR_DELIVERY,       /* an outbound delivery failed */
    GW_ERR_UNREACHABLE,    /* an outbound delivery's receiver did not answer, or was unavailable */
    GW_ERR__COUNT
};

const char *gw_strerror(enum gw_err err);

#endif
