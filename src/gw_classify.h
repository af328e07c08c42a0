/*
 * Classification by configurable keyword rules (Chinese and English): which
 * category a contact belongs to, how urgent it is, and which language to
 * answer in. Pure functions of the config and the text.
 */
#ifndef GW_CLASSIFY_H
#define GW_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_config.h"

struct gw_classification {
    const struct gw_category *category; /* borrowed from the config */
    enum gw_priority priority;
};

/* subject and body may be NULL. */
struct gw_classification gw_classify(const struct gw_config *cfg, const char *subject,
                                     const char *body);

/* "zh" when the text holds CJK ideographs, otherwise "en". */
/*
 * The language a text is written in: "zh" when it holds Chinese, else "en"
 * when it holds a word in Latin letters and latin_counts (the text is the
 * customer's own, not an adapter's summary), else NULL.
 */
const char *gw_detect_language(const char *subject, const char *body, bool latin_counts);

#endif
