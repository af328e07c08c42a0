/*
 * The payload of a session announcement (PostgreSQL NOTIFY on the sessions'
 * channel): "<session> <seq>", or many such pairs in one, "<session> <seq>
 * <session> <seq> ...", so that one notification can announce what a whole
 * batch committed. The announcer writes them (gw_announcer.h), the listener
 * reads them (gw_listener.h).
 */
#ifndef GW_SESSION_PAYLOAD_H
#define GW_SESSION_PAYLOAD_H

#include <stddef.h>

/* PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
#define GW_PAYLOAD_MAX 7900

struct gw_session_seq {
    long long session;
    long long seq;
};

/*
 * The pairs as a PostgreSQL text array of payloads ({"1 5 2 9","..."}),
 * each at most GW_PAYLOAD_MAX bytes; malloc'd, NULL when out of memory.
 */
char *gw_session_payload_array(const struct gw_session_seq *pairs, size_t n);
/* Reads up to cap pairs from a payload into out; returns how many (0: none, or not pairs). */
size_t gw_session_payload_read(const char *payload, struct gw_session_seq *out, size_t cap);

#endif
