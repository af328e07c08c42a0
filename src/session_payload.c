/* Session announcement payloads (see gw_session_payload.h). */
#include "gw_session_payload.h"

#include <stdio.h>
#include <stdlib.h>

/* " 1234 5678": two 64-bit numbers and two spaces. */
#define PAIR_CHARS 42

char *gw_session_payload_array(const struct gw_session_seq *pairs, size_t n)
{
    /* Per pair: its characters, and the quotes and comma of a payload it may start. */
    char *array = malloc(n * (PAIR_CHARS + 3) + 3);
    if (!array)
        return NULL;
    char *p = array, *payload = NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (payload && p - payload > GW_PAYLOAD_MAX - PAIR_CHARS) {
            *p++ = '"';
            payload = NULL;
        }
        if (!payload) {
            p += sprintf(p, "%s\"", i ? "," : "");
            payload = p;
        }
        p += sprintf(p, "%s%lld %lld", p == payload ? "" : " ", pairs[i].session, pairs[i].seq);
    }
    if (payload)
        *p++ = '"';
    *p++ = '}';
    *p = '\0';
    return array;
}

size_t gw_session_payload_read(const char *payload, struct gw_session_seq *out, size_t cap)
{
    const char *p = payload;
    char *end;
    size_t n = 0;
    while (n < cap) {
        long long session = strtoll(p, &end, 10);
        if (end == p)
            break;
        p = end;
        long long seq = strtoll(p, &end, 10);
        if (end == p)
            break;
        p = end;
        out[n++] = (struct gw_session_seq){session, seq};
    }
    return n;
}
