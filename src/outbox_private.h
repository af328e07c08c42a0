/*
 * What the outbox's files share and nothing else needs: the dispatcher's
 * thread (outbox.c), a pass over the due rows (outbox_pass.c), the delivery
 * of one row (outbox_deliver.c) and receivers (outbox_receiver.c).
 */
#ifndef OUTBOX_PRIVATE_H
#define OUTBOX_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "gw_channel.h"

struct gw_config;

/* A row a pass claimed (strings borrowed from the claim's result). */
struct claimed {
    const char *id, *kind, *channel, *payload;
    int attempts;
    /* A probe of its receiver (not an attempt): when the row was due before it, epoch s; else 0. */
    double resume_at;
};

/*
 * What a pass decided for each claimed row, written back in one statement:
 * per-row commits made the dispatcher fall behind registration under load.
 */
struct outcomes {
    json_t *sent;    /* ids delivered */
    json_t *skipped; /* [{id, why}]: nothing to deliver, or suppressed */
    json_t *retry;   /* [{id, delay, why}] */
    json_t *records; /* [{id, ref, subject, text}]: sent mail kept on its ticket */
    json_t *reached; /* [receiver]: receivers that took or answered a delivery */
};

/*
 * Delivers one claimed row by its kind (conn: the pass's connection, for
 * the few reads a delivery needs; curl: a CURL easy handle) and adds what
 * came of it to o.
 */
void outbox_deliver(PGconn *conn, void *curl, const struct gw_config *cfg,
                    const struct claimed *row, struct outcomes *o);

/* A monotonic clock in milliseconds. */
double outbox_mono_ms(void);

/*
 * The name of the receiver d goes through ("smtp://host:port",
 * "https://host:443"); false when it has none (nothing to send) or the
 * name does not fit in cap.
 */
bool outbox_receiver_name(const struct gw_config *cfg, const struct gw_delivery *d, char *out,
                          size_t cap);

/* Seconds until a receiver that a try of took_s seconds could not reach is probed again. */
double outbox_probe_after(const struct gw_config *cfg, double took_s);

#endif
