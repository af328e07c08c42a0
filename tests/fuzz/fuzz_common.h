/*
 * What the fuzz targets share: the built-in configuration, loaded once per
 * process (a target runs millions of inputs against one configuration).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdlib.h>

#include "gw_config.h"

/* The defaults (no file, no environment beyond what the loader reads); aborts if they fail. */
static inline const struct gw_config *fuzz_default_config(void)
{
    static struct gw_config *cfg;
    if (!cfg) {
        struct gw_problems pr = {0};
        if (gw_config_load_text(NULL, &cfg, &pr) != GW_OK)
            abort();
    }
    return cfg;
}

#endif
