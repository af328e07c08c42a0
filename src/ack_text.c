/*
 * Acknowledgement wording. The promise follows DESIGN.md: the priority's
 * first-response target, and never more than 24 hours for a first human
 * answer. Kept in one place so every channel says the same thing.
 */
#include "gw_ack.h"

#include <string.h>

#include "gw_config.h"

static const char *str(const json_t *o, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : fallback;
}

char *gw_ack_text(const json_t *ack, const struct gw_config *cfg, struct gw_arena *arena)
{
    (void)cfg;
    const char *ticket = str(ack, "ticket", "?");
    const char *lang = str(ack, "language", "en");
    const char *name = str(ack, "name", NULL);
    int reopened = !strcmp(str(ack, "event", "created"), "reopened");
    json_int_t due_s = json_integer_value(json_object_get(ack, "first_response_s"));
    long minutes = due_s > 0 ? (long)(due_s + 59) / 60 : 15;

    if (!strcmp(lang, "zh"))
        return gw_arena_printf(
            arena,
            "%s%s您好！\n\n"
            "我们已%s您的请求，工单号：%s。\n"
            "您的请求已分配给相应的服务团队，我们的目标是在 %ld 分钟内给您首次答复，"
            "最迟不超过 24 小时。\n"
            "如需补充信息，请直接回复本消息，并保留工单号 [%s]。\n",
            name ? name : "", name ? "，" : "", reopened ? "重新打开" : "收到", ticket, minutes,
            ticket);
    return gw_arena_printf(arena,
                           "Hello%s%s,\n\n"
                           "We have %s your request. Your ticket number is %s.\n"
                           "It has been passed to the right team. We aim to send you a first "
                           "answer within %ld minutes, and at the latest within 24 hours.\n"
                           "To add information, reply to this message and keep [%s] in the "
                           "subject.\n",
                           name ? " " : "", name ? name : "", reopened ? "reopened" : "received",
                           ticket, minutes, ticket);
}
