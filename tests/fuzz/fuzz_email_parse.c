/*
 * Fuzz target for the email parser (GMime underneath): any bytes in, a
 * contact or a refusal with a reason out; never a crash, leak or undefined
 * behaviour. As a plain program it replays the files it is given (the shared
 * corpus) and every prefix of them; with -DINTAKE_FUZZ=ON it is a libFuzzer
 * target (docs/testing.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "email.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (gw_email_init() != GW_OK)
            abort();
        /* A GLib critical is a call with arguments it refuses (NULL text): a bug, found here. */
        g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        ready = 1;
    }
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_email_opts opts = {"help@example.com", "SR-"};
    struct gw_contact c;
    const char *why = NULL;
    enum gw_err err = gw_email_parse(data, size, &opts, arena, &c, &why);
    if (err == GW_OK && (!c.idempotency_key || !c.body || c.raw != data))
        abort();
    if (err != GW_OK && !why)
        abort();
    gw_arena_destroy(arena);
    return 0;
}
