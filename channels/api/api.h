/* The API channel's parts (api_channel.c: contacts; api_replies.c: replies on tickets). */
#ifndef API_H
#define API_H

#include "gw_channel.h"

bool api_answer_reply(const struct gw_http_request *req, struct gw_arena *arena,
                      struct gw_intake_job *job, struct gw_http_reply *reply);
void api_respond_reply(const struct gw_intake_result *r, struct gw_arena *arena,
                       struct gw_http_reply *reply);

#endif
