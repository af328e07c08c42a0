/* Lookup of a channel by the name stored with its messages and outbox rows. */
#include <string.h>

#include "gw_channel.h"

enum gw_err gw_channels_init(void)
{
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        if ((*c)->init) {
            enum gw_err err = (*c)->init();
            if (err != GW_OK)
                return err;
        }
    return GW_OK;
}

const struct gw_channel *gw_channel_find(const char *name)
{
    for (const struct gw_channel *const *c = gw_channels; name && *c; c++)
        if (!strcmp((*c)->name, name))
            return *c;
    return NULL;
}
