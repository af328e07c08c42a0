/*
 * The phone channel's parts. Three wire formats (Twilio, generic CTI, our own
 * JSON) are verified and parsed into one call event (struct phone_call);
 * phone_contact.c turns a call event into the contact the core registers
 * through the channel's own operation (intake_call_event), and the database
 * keeps the call's state machine. Acknowledgements go out as
 * text messages (phone_sms.c); calls whose end never came are swept
 * (phone_stale.c).
 */
#ifndef GW_PHONE_H
#define GW_PHONE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "gw_channel.h"
#include "gw_form.h"

#define PHONE_CHANNEL        "phone"
#define PHONE_MAX_BODY       (64 * 1024)
#define PHONE_SIGNATURE_SKEW 300 /* seconds a signed native event may be early or late */
#define PHONE_CALL_ID_MAX    128
#define PHONE_NAME_MAX       200

/* The channel's settings: "channels": {"phone": {...}}, secrets from the environment first. */
struct phone_settings {
    const char *country_code;      /* digits; national numbers belong to this country */
    const char *twilio_auth_token; /* INTAKE_TWILIO_AUTH_TOKEN */
    const char *cti_token;         /* INTAKE_CTI_TOKEN */
    const char *webhook_secret;    /* INTAKE_WEBHOOK_SECRET */
    int callback_within_s;         /* a missed call is called back within this */
    int stale_after_s;             /* an unfinished call silent this long is closed */
    const char *sms_url;           /* INTAKE_SMS_URL: Twilio Messages API compatible */
    const char *sms_from;          /* INTAKE_SMS_FROM */
    const char *sms_account;       /* INTAKE_SMS_ACCOUNT (Basic auth user) */
    const char *sms_token;         /* INTAKE_SMS_TOKEN (Basic auth password) */
};

void phone_settings_read(const struct gw_config *cfg, struct phone_settings *out);
void phone_check_config(const json_t *section, struct gw_problems *problems);

/* application/x-www-form-urlencoded, decoded into the arena. */
/*
 * The request body's fields, form-encoded or a flat JSON object (*is_json
 * says which). GW_ERR_INVALID with a 400/415 in reply when it is neither.
 */
enum gw_err phone_body_fields(const struct gw_http_request *req, struct gw_arena *arena,
                              struct gw_form *out, bool *is_json, struct gw_http_reply *reply);

/* Equal in time independent of where they differ (both are hashed first). */
bool phone_secret_equal(const char *given, const char *expected);
/*
 * Twilio's X-Twilio-Signature: base64 HMAC-SHA1, keyed with the auth token,
 * of the URL followed by every form field's name and value sorted by name
 * (form may be NULL for JSON bodies, where the URL carries bodySHA256).
 */
bool phone_twilio_signature(const char *auth_token, const char *url, const struct gw_form *form,
                            char out[64]);
/* Hex SHA-256 of a body, for Twilio's bodySHA256 parameter. */
void phone_sha256_hex(const unsigned char *body, size_t len, char out[65]);
/*
 * Our X-Intake-Signature "t=<unix>,v1=<hex>[,v1=...]": HMAC-SHA256 of
 * "<t>.<body>" with the webhook secret, t within PHONE_SIGNATURE_SKEW of now.
 * On false, *why says what is wrong.
 */
bool phone_native_signature_ok(const char *header, const char *secret, const unsigned char *body,
                               size_t len, long now, const char **why);

/*
 * A call's state change. The database keeps each call's state machine
 * (db/functions/calls.sql) and registers the call as a contact once, when it
 * ends; media that comes later joins its ticket.
 */
struct phone_call {
    const char *provider; /* whose call ids these are; a call is unique per provider */
    const char *call_id;
    /* ringing, answered, ended (answered, then hung up), missed, voicemail,
     * forwarded, recording, transcript */
    const char *kind;
    const char *direction; /* "in", "out"; NULL when the event does not say */
    const char *from;      /* E.164; NULL when withheld or not given */
    const char *to;
    const char *cause; /* the provider's reason for the end (busy, noAnswer ...) */
    long duration_s;   /* -1 when not given */
    const char *recording_url;
    const char *transcript;
    time_t at; /* when it happened; 0: now */
};

/* A call event in the making, plus what the contact needs besides it. */
struct phone_event {
    struct phone_call call;
    const char *event_key;   /* unique per event: provider, call and what happened */
    const char *caller_name; /* as the phone system knows the caller */
    const char *from_raw;    /* numbers as given, for the withheld / invalid distinction */
    const char *to_raw;
    const char *call_id_field; /* the wire format's name for the call id, for errors */
};

/*
 * Normalizes the numbers, writes the contact (texts for agents, identity,
 * idempotency key, callback deadline) and points it at a copy of the event,
 * registered by PHONE_OP_CALL_EVENT. GW_ERR_INVALID with a 422 in reply when
 * a number is not a number.
 */
enum gw_err phone_contact_build(const struct phone_settings *s, struct gw_arena *arena,
                                const struct phone_event *ev, struct gw_contact *contact,
                                struct gw_http_reply *reply);
/* Writes a 4xx/5xx with a reason (and the field) and returns GW_ERR_INVALID. */
enum gw_err phone_reject(struct gw_http_reply *reply, struct gw_arena *arena, int status,
                         const char *why, const char *field);
/* Unix time of an RFC 3339 / RFC 2822 date or decimal seconds; 0 when unreadable. */
long phone_parse_time(const char *s);

/* The routes' parsers and responders. */
enum gw_err phone_twilio_parse(const struct gw_http_request *req, struct gw_arena *arena,
                               struct gw_contact *contact, struct gw_http_reply *reply);
void phone_twilio_respond(const struct gw_intake_result *result, struct gw_arena *arena,
                          struct gw_http_reply *reply);
enum gw_err phone_cti_parse(const struct gw_http_request *req, struct gw_arena *arena,
                            struct gw_contact *contact, struct gw_http_reply *reply);
enum gw_err phone_native_parse(const struct gw_http_request *req, struct gw_arena *arena,
                               struct gw_contact *contact, struct gw_http_reply *reply);
/* JSON answer shared by the CTI and native routes. */
void phone_json_respond(const struct gw_intake_result *result, struct gw_arena *arena,
                        struct gw_http_reply *reply);

enum gw_err phone_render_sms(const json_t *ack, const struct gw_config *cfg, struct gw_arena *arena,
                             struct gw_delivery *out);
/* An agent's reply (outbox "reply" payload, "to" a number) as a text message. */
enum gw_err phone_render_reply(const json_t *reply, const struct gw_config *cfg,
                               struct gw_arena *arena, struct gw_delivery *out);
int phone_poll_stale(struct gw_poll_ctx *ctx);

/* The channel's database operations (phone_channel.c; db/functions/calls.sql). */
enum phone_operation {
    PHONE_OP_CALL_EVENT,  /* registers a call event: intake_call_event(_many) */
    PHONE_OP_STALE_CALLS, /* the calls whose end never came */
    PHONE_OP__COUNT
};
extern const struct gw_operation phone_operations[PHONE_OP__COUNT];
/* The call event a contact of this channel reports; NULL for any other contact. */
const struct phone_call *phone_call_of(const struct gw_contact *contact);
/* The "call" member of the registration document (PHONE_OP_CALL_EVENT's describe). */
void phone_describe_call(const struct gw_contact *contact, json_t *doc);
/* The call's state after the event, from the database's answer (arena-owned), or NULL. */
const char *phone_call_state(const struct gw_intake_result *result, struct gw_arena *arena);

#endif
