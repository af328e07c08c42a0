/* Serving compiled-in files (gw_asset.h). */
#include "gw_asset.h"

#include <string.h>

#include "gw_channel.h"

void gw_asset_reply(const struct gw_asset *assets, size_t n, const char *name, const char *type,
                    struct gw_http_reply *reply)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(assets[i].name, name)) {
            reply->status = 200;
            reply->content_type = type;
            reply->body = (const char *)assets[i].data;
            reply->body_len = assets[i].len;
            /* Small files that change with the gateway: check each time, cheap when unchanged. */
            reply->cache_control = "no-cache";
            return;
        }
    reply->status = 404;
    reply->content_type = "text/plain; charset=utf-8";
    reply->body = "no such file\n";
    reply->body_len = strlen(reply->body);
}
