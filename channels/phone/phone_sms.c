/*
 * Acknowledgements by text message, through an SMS provider's HTTP API in
 * Twilio's Messages format (form fields To, From, Body; HTTP Basic with the
 * account and token). The outbox retries it with backoff like any delivery.
 * The text is short on purpose: the ticket number and when to expect the
 * call back, in the ticket's language.
 */
#include <curl/curl.h>
#include <string.h>

#include "gw_config.h"
#include "phone.h"

#define SMS_PER_NUMBER_PER_HOUR 3

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

static const char *sms_text(const json_t *ack, struct gw_arena *arena)
{
    const char *ticket = str(ack, "ticket") ? str(ack, "ticket") : "?";
    json_int_t due_s = json_integer_value(json_object_get(ack, "first_response_s"));
    long minutes = due_s > 0 ? (long)(due_s + 59) / 60 : 30;
    const char *lang = str(ack, "language");
    if (lang && !strcmp(lang, "zh"))
        return gw_arena_printf(arena,
                               "感谢您的来电。工单号 %s，我们将在 %ld 分钟内给您回电。"
                               "再次联系时请提供工单号。",
                               ticket, minutes);
    return gw_arena_printf(arena,
                           "Thank you for calling. Your ticket is %s; we will call you back "
                           "within %ld minutes. Please quote %s if you contact us again.",
                           ticket, minutes, ticket);
}

/* name=value, escaped, appended to a form body. */
static const char *form_add(struct gw_arena *arena, const char *form, const char *name,
                            const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    if (!esc || !form)
        return NULL;
    const char *out = gw_arena_printf(arena, "%s%s%s=%s", form, *form ? "&" : "", name, esc);
    curl_free(esc);
    return out;
}

/* A text message to `to` through the configured provider (Twilio's Messages format). */
static enum gw_err render_text(const char *to, const char *text, const struct gw_config *cfg,
                               struct gw_arena *arena, struct gw_delivery *out)
{
    struct phone_settings s;
    phone_settings_read(cfg, &s);
    memset(out, 0, sizeof(*out));
    out->kind = GW_DELIVER_NONE;
    if (!to) {
        out->why_none = "no number to text";
        return GW_OK;
    }
    if (!s.sms_url || !s.sms_from) {
        out->why_none = "no SMS provider configured (INTAKE_SMS_URL, INTAKE_SMS_FROM)";
        return GW_OK;
    }
    const char *body = form_add(arena, "", "To", to);
    body = form_add(arena, body, "From", s.sms_from);
    body = form_add(arena, body, "Body", text);
    if (!text || !body)
        return GW_ERR_NOMEM;
    out->kind = GW_DELIVER_HTTP_POST;
    out->url = s.sms_url;
    out->content_type = "application/x-www-form-urlencoded";
    out->body = body;
    out->body_len = strlen(body);
    if (s.sms_account)
        out->basic_auth =
            gw_arena_printf(arena, "%s:%s", s.sms_account, s.sms_token ? s.sms_token : "");
    return GW_OK;
}

enum gw_err phone_render_sms(const json_t *ack, const struct gw_config *cfg, struct gw_arena *arena,
                             struct gw_delivery *out)
{
    const char *to = str(ack, "reply_handle");
    enum gw_err err = render_text(to, to ? sms_text(ack, arena) : NULL, cfg, arena, out);
    if (err == GW_OK && out->kind != GW_DELIVER_NONE)
        out->per_recipient_per_hour = SMS_PER_NUMBER_PER_HOUR;
    return err;
}

enum gw_err phone_render_reply(const json_t *reply, const struct gw_config *cfg,
                               struct gw_arena *arena, struct gw_delivery *out)
{
    const char *ticket = str(reply, "ticket") ? str(reply, "ticket") : "?";
    const char *body = str(reply, "text") ? str(reply, "text") : "";
    /* The ticket tag in front reads the same in Chinese and English. */
    const char *text = gw_arena_printf(arena, "[%s] %s", ticket, body);
    return render_text(str(reply, "to"), text, cfg, arena, out);
}
