/*
 * Fuzz target for the API channel's parser: any bytes in, a contact or a
 * 4xx out, never a crash, leak or undefined behaviour. Built two ways: with
 * clang -fsanitize=fuzzer (cmake -DINTAKE_FUZZ=ON, then run the binary) for
 * real fuzzing, and as a plain program in the test suite that replays every
 * file given on its command line (the fixtures) under ASan and UBSan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_channel.h"
#include "fuzz_common.h"
#include "gw_config.h"

extern const struct gw_channel gw_channel_api;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_header(const struct gw_http_request *req, const char *name)
{
    (void)req;
    (void)name;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct gw_config *cfg = fuzz_default_config();
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_http_request req = {
        .method = "POST",
        .path = "/v1/contacts",
        .content_type = "application/json",
        .body = data,
        .body_len = size,
        .header = no_header,
        .config = cfg,
    };
    struct gw_contact contact;
    struct gw_http_reply reply;
    memset(&reply, 0, sizeof(reply));
    enum gw_err err = gw_channel_api.routes[0].parse(&req, arena, &contact, &reply);
    /* Either a contact with its key, or a client error with a body: nothing else. */
    if (err == GW_OK && (!contact.idempotency_key || !contact.body))
        abort();
    if (err != GW_OK && (reply.status < 400 || reply.status > 499 || !reply.body))
        abort();
    gw_arena_destroy(arena);
    return 0;
}
