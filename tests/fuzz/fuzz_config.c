/*
 * Fuzz target for the configuration file (src/config.c, the table of keys in
 * src/config_keys.c and the adapters' own settings): any JSON text is either
 * a configuration, freed without a leak, or GW_ERR_CONFIG with at least one
 * problem naming what is wrong; never a crash, leak or undefined behaviour.
 * gw_config_load_text is the file loader minus the file (same merge over the
 * defaults, same checks), so no I/O in the loop except access() on paths a
 * text names (TLS files, time zones). Seeds: tests/fixtures/config/.
 * Built like the other fuzz targets (see fuzz_api_parse.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct gw_config *cfg = NULL;
    struct gw_problems pr = {0};
    enum gw_err err = gw_config_load_text(text, &cfg, &pr);
    if (err == GW_OK) {
        if (!cfg || pr.n)
            abort();
        gw_config_free(cfg);
    } else if (err != GW_ERR_CONFIG || pr.n == 0) {
        abort();
    }
    for (size_t i = 0; i < pr.n; i++)
        if (!pr.items[i] || !*pr.items[i])
            abort();
    gw_problems_clear(&pr);
    free(text);
    return 0;
}
