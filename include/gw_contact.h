/*
 * The normalized contact: what every channel adapter produces from its wire
 * format, and the only thing the intake core sees. All strings are UTF-8 and
 * owned by the arena the contact was built in; optional fields are NULL.
 */
#ifndef GW_CONTACT_H
#define GW_CONTACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct gw_operation;

struct gw_attachment {
    const char *filename;
    const char *content_type;
    const unsigned char *data; /* may be NULL when only metadata is kept */
    size_t size;
    unsigned char sha256[32];
};

struct gw_sender {
    const char *name;
    const char *email;   /* lower-cased by the adapter */
    const char *phone;   /* E.164, "+" and digits */
    const char *chat_id; /* the chat channel's stable visitor id */
    const char *company;
    const char *language; /* "zh" or "en" when the sender said so */
};

/* A message a customer sent in a live session (db/functions/sessions.sql). */
struct gw_session_message {
    long long session;     /* the session's id */
    const char *client_id; /* the client's id for the message; a resend reuses it */
    long long after;       /* the answer carries the session's events after this one */
};

struct gw_contact {
    const char *channel;            /* the adapter's name */
    const char *idempotency_key;    /* required; unique across all channels */
    const char *external_ref;       /* the channel's own id for this message, for threading */
    const char *const *thread_refs; /* ids of earlier messages this one answers */
    size_t n_thread_refs;
    const char *ticket_ref; /* a ticket number the sender named */
    const char *const *cc;  /* others copied (lower-cased addresses); they may reply on it */
    size_t n_cc;
    struct gw_sender sender;
    const char *subject;
    const char *body;
    const char *summary; /* the part of body worth summarizing (no quotes); NULL: body */
    /*
     * The subject and body are the adapter's own words (a phone call's
     * summary), not the customer's: their language says nothing of the
     * customer's, save Chinese in them (a voicemail's transcript).
     */
    bool text_is_ours;
    const char *product; /* product or service named, if any */
    const struct gw_attachment *attachments;
    size_t n_attachments;
    time_t received_at;       /* 0: now */
    const char *reply_handle; /* where the channel sends the acknowledgement */
    /*
     * Why no acknowledgement may be sent (automatic mail, a list, a bounce);
     * NULL when one may. The contact is registered either way.
     */
    const char *no_ack_reason;
    /* A delivery report: the id of the message it reports on (one we sent). */
    const char *bounce_of;
    /* First response due this many seconds after receipt (a callback); 0: by priority. */
    int respond_within_s;
    /*
     * Set for a contact its adapter registers through one of its own
     * operations (gw_channel.h) instead of as a message: a change of state
     * of something the database follows, which registers a ticket only when
     * the state calls for one. The operation's describe adds the adapter's
     * facts (detail, which only the adapter reads) to the registration
     * document. The raw message is not kept for such a contact.
     */
    const struct gw_operation *registered_by;
    const void *detail;
    /*
     * What the contact's locks are named by when it is not its idempotency
     * key: contacts of one order_key are committed in arrival order, and
     * every batch takes its locks in name order (see src/register.c).
     */
    const char *order_key;
    /* Set when the contact was sent in a live session (a socket route's, gw_socket.h). */
    const struct gw_session_message *session;
    /*
     * A message from the past moved in from another system (an archive
     * import): stored with received_at as its date everywhere, on a resolved
     * ticket of its own or its thread's, and nothing is sent about it (no
     * acknowledgement, no agent notification). received_at must be set.
     */
    bool historical;
    /*
     * A historical message the desk itself sent, not a customer (its copy
     * in an imported mailbox: a reply, or the desk writing first). Stored
     * as an outbound message on the ticket of the thread it answers, with
     * sender as who sent it; no customer is made or changed from sender.
     * With no stored thread, it opens a ticket for recipient (the customer
     * it was written to) when there is one and no_ack_reason is NULL (not
     * automatic mail), else nothing is stored (gw_intake_result.left_out).
     * An automatic one (no_ack_reason set) is no first response.
     */
    bool outbound;
    struct gw_sender recipient;
    /* The message exactly as received, kept losslessly with it; NULL if none. */
    const unsigned char *raw;
    size_t raw_len;
};

#endif
