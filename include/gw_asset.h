/*
 * Files a channel serves as they are (a web page, a script), compiled into
 * the binary from an adapter's assets/ folder by cmake/embed_assets.cmake.
 */
#ifndef GW_ASSET_H
#define GW_ASSET_H

#include <stddef.h>

struct gw_http_reply;

struct gw_asset {
    const char *name; /* file name, e.g. "widget.js" */
    const unsigned char *data;
    size_t len;
};

/*
 * Fills reply with the named asset (200, the given Content-Type, checked
 * again by the browser each time: "no-cache"), or a 404.
 */
void gw_asset_reply(const struct gw_asset *assets, size_t n, const char *name, const char *type,
                    struct gw_http_reply *reply);

#endif
