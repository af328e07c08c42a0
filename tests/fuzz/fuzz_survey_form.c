/*
 * Fuzz target for the customer's survey answer (desk/desk_survey.c over
 * src/form.c): any form body POSTed to a well-formed /s/{token} becomes
 * either the answer (five ratings 1..5, a comment within its limit) or the
 * form again with a problem for the customer to read, both as one operation
 * document for the database; never a crash, leak or undefined behaviour.
 * desk_survey_answer builds the document without I/O, so the target calls it
 * as the core does. Seeds: tests/fixtures/survey/ (what browsers send).
 * Built like the other fuzz targets (see fuzz_api_parse.c).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"
#include "gw_arena.h"
#include "fuzz_common.h"
#include "gw_config.h"
#include "gw_validate.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *header(const struct gw_http_request *req, const char *name)
{
    (void)req;
    return !strcmp(name, "accept-language") ? "zh-CN,zh;q=0.9" : NULL;
}

/* An answer as stored: five ratings from 1 to 5, a comment of at most 2000 characters. */
static void check_answer(json_t *doc)
{
    static const char *const dims[] = {"response_speed", "resolution_efficiency", "attitude",
                                       "professionalism", "overall"};
    json_t *ratings = json_object_get(doc, "ratings");
    if (json_object_size(ratings) != 5 || json_object_get(doc, "problem"))
        abort();
    for (size_t d = 0; d < 5; d++) {
        json_int_t v = json_integer_value(json_object_get(ratings, dims[d]));
        if (v < 1 || v > 5)
            abort();
    }
    json_t *comment = json_object_get(doc, "comment");
    if (comment && (!json_is_string(comment) || gw_utf8_length(json_string_value(comment)) > 2000))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct gw_config *cfg = fuzz_default_config();
    struct gw_arena *arena = gw_arena_create(4096);
    struct gw_http_request req = {
        .method = "POST",
        .path = "/s/" TOKEN,
        .content_type = "application/x-www-form-urlencoded",
        .body = size ? data : NULL, /* the core passes NULL for an empty body */
        .body_len = size,
        .header = header,
        .config = cfg,
    };
    struct gw_intake_job job;
    struct gw_http_reply reply;
    memset(&job, 0, sizeof(job));
    memset(&reply, 0, sizeof(reply));
    if (!desk_survey_answer(&req, arena, &job, &reply))
        abort(); /* a well-formed token always goes to the database */
    json_t *doc = job.document ? json_loads(job.document, 0, NULL) : NULL;
    if (!json_is_object(doc) || !json_string_value(json_object_get(doc, "token_hash")))
        abort();
    if (job.operation == &desk_operations[DESK_OP_SURVEY_ANSWER])
        check_answer(doc);
    else if (job.operation != &desk_operations[DESK_OP_SURVEY_GET] ||
             !json_string_value(json_object_get(doc, "problem")))
        abort(); /* not an answer: the form again, saying what is wrong */
    json_decref(doc);
    gw_arena_destroy(arena);
    return 0;
}
