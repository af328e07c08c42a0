/*
 * Fuzz target for the chat widget's frames (channels/chat/chat_protocol.c):
 * whatever a browser sends on /v1/chat is either a frame whose fields keep
 * the protocol's limits, or a refusal with a code and a reason that turns
 * into a JSON error event; never a crash, leak or undefined behaviour. The
 * same bytes, when they are a JSON object, also go through the rendering of
 * stored events (the acknowledgement notice gains its words there), which
 * reads event fields of any type. Built like the other fuzz targets (see
 * fuzz_api_parse.c); its seeds are tests/fixtures/chat/.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "gw_arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The limits a parsed frame promises the socket code (docs/chat.md). */
static void check_frame(const struct chat_frame *f)
{
    switch (f->type) {
    case CHAT_MESSAGE:
        if (!f->client_id || !*f->client_id || strlen(f->client_id) > 64 || !f->text || !*f->text)
            abort();
        break;
    case CHAT_HELLO:
        if (f->last_seq < 0 ||
            (f->language && strcmp(f->language, "zh") && strcmp(f->language, "en")))
            abort();
        if (f->token && (strlen(f->token) < 16 || strlen(f->token) > 128))
            abort();
        break;
    case CHAT_TYPING:
    case CHAT_CLOSE:
        break;
    default:
        abort();
    }
}

/* An error event must be JSON the widget can read, naming its code. */
static void check_refusal(struct gw_arena *arena, const struct chat_problem *p)
{
    if (!p->code || !p->reason)
        abort();
    char *text = chat_error_json(arena, p, "fuzz-client");
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(o, "code"));
    if (!code || strcmp(code, p->code))
        abort();
    json_decref(o);
}

static void check_event(struct gw_arena *arena, const uint8_t *data, size_t size)
{
    json_t *ev = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return;
    }
    char *text = chat_event_json(arena, ev);
    json_decref(ev);
    json_t *back = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(back))
        abort();
    json_decref(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_arena *arena = gw_arena_create(4096);
    struct chat_frame frame;
    struct chat_problem problem;
    if (chat_parse_frame((const char *)data, size, arena, &frame, &problem))
        check_frame(&frame);
    else
        check_refusal(arena, &problem);
    check_event(arena, data, size);
    gw_arena_destroy(arena);
    return 0;
}
