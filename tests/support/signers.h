/*
 * The signatures webhook senders put on their requests, computed for the
 * tests: Twilio's X-Twilio-Signature and our X-Intake-Signature (the phone
 * channel's signed JSON and the desk's queue webhooks). Written with
 * OpenSSL's one-shot HMAC(), not the gateway's EVP_MAC code, so a test
 * checks the gateway against a second implementation; the phone channel's
 * signature tests check these against openssl-command vectors first.
 * No cmocka in here: the phone fuzz target signs with it too.
 */
#ifndef SIGNERS_H
#define SIGNERS_H

#include <stddef.h>

/* A form field, name and value as they read (not URL-encoded). */
struct form_field {
    const char *name;
    const char *value;
};

/* Base64 of a 20-byte HMAC-SHA1, and a NUL. */
#define SIGNER_TWILIO_LEN 29
/* "t=" + up to 20 digits + ",v1=" + 64 hex digits, and a NUL. */
#define SIGNER_INTAKE_LEN 91

/*
 * X-Twilio-Signature: base64 HMAC-SHA1, keyed with the auth token, of url
 * followed by each field's name and value, the fields sorted by name.
 * fields may be NULL when n is 0 (Twilio's JSON callbacks sign the URL only).
 */
void signer_twilio(const char *token, const char *url, const struct form_field *fields, size_t n,
                   char out[SIGNER_TWILIO_LEN]);

/* X-Intake-Signature: "t=<t>,v1=<hex HMAC-SHA256 of "<t>." and the body>". */
void signer_intake(const char *secret, long t, const void *body, size_t len,
                   char out[SIGNER_INTAKE_LEN]);

/* Lower-case hex SHA-256, as Twilio's bodySHA256 carries it. */
void signer_sha256_hex(const void *data, size_t len, char out[65]);

#endif
