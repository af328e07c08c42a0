/*
 * The phone channel's settings. Secrets (webhook keys, the SMS provider's
 * token) are read from the environment first so that the config file can be
 * shared without them; everything else comes from "channels": {"phone": ...}.
 */
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_validate.h"
#include "phone.h"

#define DEFAULT_COUNTRY_CODE "86"
#define DEFAULT_CALLBACK_MIN 30
#define DEFAULT_STALE_MIN    120
#define MAX_CALLBACK_MIN     (24 * 60)
#define MIN_STALE_MIN        1
#define MAX_STALE_MIN        (7 * 24 * 60)

static const char *env_or(const char *env, const json_t *section, const char *key)
{
    const char *v = getenv(env);
    if (v && *v)
        return v;
    v = json_string_value(json_object_get(section, key));
    return v && *v ? v : NULL;
}

static int minutes(const json_t *section, const char *key, int fallback)
{
    const json_t *v = json_object_get(section, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : fallback;
}

void phone_settings_read(const struct gw_config *cfg, struct phone_settings *s)
{
    const json_t *sec = gw_config_channel(cfg, PHONE_CHANNEL);
    const json_t *sms = json_object_get(sec, "sms");
    memset(s, 0, sizeof(*s));
    s->country_code = json_string_value(json_object_get(sec, "default_country_code"));
    if (!s->country_code)
        s->country_code = DEFAULT_COUNTRY_CODE;
    s->twilio_auth_token = env_or("INTAKE_TWILIO_AUTH_TOKEN", sec, "twilio_auth_token");
    s->cti_token = env_or("INTAKE_CTI_TOKEN", sec, "cti_token");
    s->webhook_secret = env_or("INTAKE_WEBHOOK_SECRET", sec, "webhook_secret");
    s->callback_within_s = 60 * minutes(sec, "callback_within_minutes", DEFAULT_CALLBACK_MIN);
    s->stale_after_s = 60 * minutes(sec, "stale_after_minutes", DEFAULT_STALE_MIN);
    s->sms_url = env_or("INTAKE_SMS_URL", sms, "url");
    s->sms_from = env_or("INTAKE_SMS_FROM", sms, "from");
    s->sms_account = env_or("INTAKE_SMS_ACCOUNT", sms, "account");
    s->sms_token = env_or("INTAKE_SMS_TOKEN", sms, "token");
}

static void check_minutes(const json_t *sec, const char *key, int lo, int hi,
                          struct gw_problems *pr)
{
    const json_t *v = json_object_get(sec, key);
    if (v && (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi))
        gw_problems_add(pr, "channels.phone.%s: must be %d..%d", key, lo, hi);
}

static void check_string(const json_t *obj, const char *key, const char *where,
                         struct gw_problems *pr)
{
    const json_t *v = json_object_get(obj, key);
    if (v && !json_is_string(v) && !json_is_null(v))
        gw_problems_add(pr, "%s.%s: must be a string", where, key);
}

void phone_check_config(const json_t *sec, struct gw_problems *pr)
{
    static const char *const known[] = {
        "default_country_code",    "twilio_auth_token",   "cti_token", "webhook_secret",
        "callback_within_minutes", "stale_after_minutes", "sms",       NULL};
    static const char *const known_sms[] = {"url", "from", "account", "token", NULL};
    if (!sec)
        return;
    gw_problems_unknown_keys(pr, sec, known, "channels.phone");
    const json_t *cc = json_object_get(sec, "default_country_code");
    if (cc) {
        const char *s = json_string_value(cc);
        size_t n = s ? strlen(s) : 0;
        if (n < 1 || n > 3 || strspn(s, "0123456789") != n || s[0] == '0')
            gw_problems_add(pr, "channels.phone.default_country_code: must be 1-3 digits, e.g. "
                                "\"86\" or \"1\"");
    }
    for (const char *const *k = known + 1; k < known + 4; k++)
        check_string(sec, *k, "channels.phone", pr);
    check_minutes(sec, "callback_within_minutes", 1, MAX_CALLBACK_MIN, pr);
    check_minutes(sec, "stale_after_minutes", MIN_STALE_MIN, MAX_STALE_MIN, pr);
    const json_t *sms = json_object_get(sec, "sms");
    if (sms && !json_is_object(sms)) {
        gw_problems_add(pr, "channels.phone.sms: must be an object");
        return;
    }
    if (!sms)
        return;
    gw_problems_unknown_keys(pr, sms, known_sms, "channels.phone.sms");
    for (const char *const *k = known_sms; *k; k++)
        check_string(sms, *k, "channels.phone.sms", pr);
    const char *url = json_string_value(json_object_get(sms, "url"));
    if (url && !gw_http_url_valid(url))
        gw_problems_add(pr, "channels.phone.sms.url: must be an http or https URL");
}
