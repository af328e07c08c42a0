/*
 * Files a channel serves as they are (a web page, a script), compiled into
 * the binary from channels/<name>/assets/ by cmake/embed_assets.cmake.
 */
#ifndef GW_ASSET_H
#define GW_ASSET_H

#include <stddef.h>

struct gw_asset {
    const char *name; /* file name, e.g. "widget.js" */
    const unsigned char *data;
    size_t len;
};

#endif
