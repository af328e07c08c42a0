/*
 * Classification with the built-in rules (config_defaults.c): categories in
 * precedence order, priorities from keywords in Chinese and English, word
 * boundaries for ASCII keywords, each category's minimum priority, and the
 * language guess. One default config is loaded for the whole group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_classify.h"
#include "gw_config.h"

static int load_defaults(void **state)
{
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text(NULL, &cfg, &pr);
    gw_problems_clear(&pr);
    if (err != GW_OK)
        return -1;
    *state = cfg;
    return 0;
}

static int free_config(void **state)
{
    gw_config_free(*state);
    return 0;
}

static const char *category_of(void **state, const char *subject, const char *body)
{
    return gw_classify(*state, subject, body).category->name;
}

static enum gw_priority priority_of(void **state, const char *subject, const char *body)
{
    return gw_classify(*state, subject, body).priority;
}

struct example {
    const char *subject;
    const char *body;
    const char *category;
};

static void check_examples(void **state, const struct example *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = category_of(state, ex[i].subject, ex[i].body);
        if (strcmp(got, ex[i].category))
            fail_msg("subject \"%s\" body \"%s\": got %s, expected %s",
                     ex[i].subject ? ex[i].subject : "(null)", ex[i].body ? ex[i].body : "(null)",
                     got, ex[i].category);
    }
}

static void test_english_categories(void **state)
{
    static const struct example ex[] = {
        {"Where is my order?", "It was placed last week.", "order"},
        {NULL, "I need the tracking number for my shipment.", "order"},
        {"Question", "What is the price for 10 licences?", "presale"},
        {NULL, "Can I get a discount if we buy 50?", "presale"},
        {"Formal complaint", "I want to file a complaint about your agent.", "complaint"},
        {NULL, "The screen is cracked.", "aftersale.fault.hardware"},
        {NULL, "The battery lasts an hour.", "aftersale.fault.hardware"},
        {NULL, "The app crashes when I open it.", "aftersale.fault.software"},
        {NULL, "I cannot log in since yesterday.", "aftersale.fault.software"},
        {NULL, "How do I export my contacts?", "aftersale.usage"},
        {NULL, "Please send me the manual.", "aftersale.usage"},
        {NULL, "I suggest a dark theme.", "suggestion"},
        {NULL, "A feature request: export to CSV.", "suggestion"},
        {NULL, "I had a missed call from this number.", "callback"},
        {NULL, "Please call me back tomorrow.", "callback"},
        {"Hello", "Just saying thanks for yesterday.", "general"},
    };
    check_examples(state, ex, sizeof(ex) / sizeof(ex[0]));
}

static void test_chinese_categories(void **state)
{
    static const struct example ex[] = {
        {NULL, "我的订单还没有收到", "order"},
        {"物流查询", "请问什么时候到", "order"},
        {NULL, "这个产品多少钱？", "presale"},
        {NULL, "我想申请试用", "presale"},
        {NULL, "我要投诉你们的客服", "complaint"},
        {NULL, "手机不开机了", "aftersale.fault.hardware"},
        {NULL, "屏幕碎了能修吗", "aftersale.fault.hardware"},
        {NULL, "应用一打开就闪退", "aftersale.fault.software"},
        {NULL, "系统一直报错", "aftersale.fault.software"},
        {NULL, "请问怎么导出联系人", "aftersale.usage"},
        {NULL, "能发一份说明书吗", "aftersale.usage"},
        {NULL, "建议增加夜间模式", "suggestion"},
        {NULL, "刚才有一个未接来电", "callback"},
        {"你好", "谢谢你们昨天的帮助", "general"},
    };
    check_examples(state, ex, sizeof(ex) / sizeof(ex[0]));
}

static void test_precedence(void **state)
{
    /* A complaint about a broken device is a complaint first. */
    assert_string_equal(category_of(state, "Complaint", "My device is broken."), "complaint");
    assert_string_equal(category_of(state, NULL, "投诉：手机坏了，电池也有问题"), "complaint");
    /* Hardware before order: the keyword order of the config decides, not the text's. */
    assert_string_equal(category_of(state, "Order 77", "the battery is broken"),
                        "aftersale.fault.hardware");
    /* Software before presale. */
    assert_string_equal(category_of(state, NULL, "After the trial the app shows an error"),
                        "aftersale.fault.software");
    /* The subject counts as much as the body. */
    assert_string_equal(category_of(state, "Complaint", "Where is my order?"), "complaint");
}

static void test_word_boundaries(void **state)
{
    /* "download" does not contain the word "down", "border" not "order". */
    assert_int_equal(priority_of(state, NULL, "I cannot download the invoice"), GW_PRIO_NORMAL);
    assert_int_equal(priority_of(state, NULL, "The shutdown took long"), GW_PRIO_NORMAL);
    assert_string_equal(category_of(state, NULL, "We live near the border."), "general");
    assert_string_equal(category_of(state, NULL, "Reordering the menu items"), "general");
    assert_string_equal(category_of(state, NULL, "bugs"), "general");
    /* Punctuation and line ends are boundaries. */
    assert_int_equal(priority_of(state, NULL, "The site is down."), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "down"), GW_PRIO_URGENT);
    assert_string_equal(category_of(state, "(order)", NULL), "order");
    assert_string_equal(category_of(state, NULL, "order-42 missing"), "order");
    assert_string_equal(category_of(state, NULL, "Got an error:"), "aftersale.fault.software");
    /* A later occurrence on a boundary still counts after an embedded one. */
    assert_string_equal(category_of(state, NULL, "border control; my order is late"), "order");
    assert_int_equal(priority_of(state, NULL, "download failed, server down"), GW_PRIO_URGENT);
}

static void test_chinese_matches_inside_text(void **state)
{
    /* No spaces in Chinese: CJK keywords match anywhere. */
    assert_string_equal(category_of(state, NULL, "订单号12345的发货状态"), "order");
    assert_int_equal(priority_of(state, NULL, "生产系统宕机了"), GW_PRIO_URGENT);
    /* Mixed with ASCII around it. */
    assert_string_equal(category_of(state, NULL, "ABC订单XYZ"), "order");
}

static void test_case_insensitive(void **state)
{
    assert_string_equal(category_of(state, "ORDER STATUS", NULL), "order");
    assert_string_equal(category_of(state, NULL, "My Order Is Late"), "order");
    assert_string_equal(category_of(state, NULL, "CALL ME BACK please"), "callback");
    assert_int_equal(priority_of(state, "URGENT", "hello"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "Service Degraded"), GW_PRIO_IMPORTANT);
}

static void test_priorities(void **state)
{
    assert_int_equal(priority_of(state, NULL, "Hello, a question about my account"),
                     GW_PRIO_NORMAL);
    assert_int_equal(priority_of(state, NULL, "This is urgent"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "Total outage since 9am"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "There is smoke coming out"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "We have data loss"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "服务器宕机"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "紧急！请处理"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "存在安全隐患"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, NULL, "The page is slow"), GW_PRIO_IMPORTANT);
    assert_int_equal(priority_of(state, NULL, "It fails sometimes"), GW_PRIO_IMPORTANT);
    assert_int_equal(priority_of(state, NULL, "网页加载缓慢"), GW_PRIO_IMPORTANT);
    assert_int_equal(priority_of(state, NULL, "信号时好时坏"), GW_PRIO_IMPORTANT);
    assert_int_equal(priority_of(state, NULL, "请尽快回复"), GW_PRIO_IMPORTANT);
    /* Urgent wins over important whichever comes first in the text. */
    assert_int_equal(priority_of(state, NULL, "slow at first, now completely down"),
                     GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, "缓慢", "现在宕机了"), GW_PRIO_URGENT);
}

static void test_priority_from_subject(void **state)
{
    assert_int_equal(priority_of(state, "Urgent: order", "where is it"), GW_PRIO_URGENT);
    assert_int_equal(priority_of(state, "紧急", NULL), GW_PRIO_URGENT);
}

static void test_complaint_minimum_priority(void **state)
{
    struct gw_classification c = gw_classify(*state, NULL, "I want to complain about delays");
    assert_string_equal(c.category->name, "complaint");
    assert_int_equal(c.priority, GW_PRIO_IMPORTANT);
    c = gw_classify(*state, NULL, "我要投诉");
    assert_string_equal(c.category->name, "complaint");
    assert_int_equal(c.priority, GW_PRIO_IMPORTANT);
    /* The minimum raises, it never lowers. */
    c = gw_classify(*state, NULL, "Complaint: the service is down, urgent");
    assert_string_equal(c.category->name, "complaint");
    assert_int_equal(c.priority, GW_PRIO_URGENT);
    c = gw_classify(*state, NULL, "投诉，紧急");
    assert_int_equal(c.priority, GW_PRIO_URGENT);
    /* Other categories keep normal. */
    c = gw_classify(*state, NULL, "Where is my order?");
    assert_string_equal(c.category->name, "order");
    assert_int_equal(c.priority, GW_PRIO_NORMAL);
}

static void test_queue_from_category(void **state)
{
    assert_string_equal(gw_classify(*state, NULL, "投诉").category->queue, "complaints");
    assert_string_equal(gw_classify(*state, NULL, "my order").category->queue, "orders");
    assert_string_equal(gw_classify(*state, NULL, "the app crashes").category->queue, "technical");
    assert_string_equal(gw_classify(*state, NULL, "price?").category->queue, "presales");
}

static void test_null_subject_and_body(void **state)
{
    struct gw_classification c = gw_classify(*state, NULL, NULL);
    assert_string_equal(c.category->name, "general");
    assert_int_equal(c.priority, GW_PRIO_NORMAL);
    c = gw_classify(*state, "", "");
    assert_string_equal(c.category->name, "general");
    assert_string_equal(category_of(state, "my order", NULL), "order");
    assert_string_equal(category_of(state, NULL, "my order"), "order");
}

static void test_keyword_not_across_subject_and_body(void **state)
{
    /* "call" ending the subject and "back" starting the body are not "call back". */
    assert_string_equal(category_of(state, "please call", "back office question"), "general");
}

static void test_long_body_first_part_decides(void **state)
{
    size_t n = 1u << 20;
    char *body = malloc(n + 1);
    assert_non_null(body);
    memset(body, 'x', n);
    memcpy(body, "order ", 6);
    memcpy(body + n - 7, " urgent", 7);
    body[n] = '\0';
    struct gw_classification c = gw_classify(*state, NULL, body);
    free(body);
    assert_string_equal(c.category->name, "order");
    /* The keyword at the very end of a long quoted history does not count. */
    assert_int_equal(c.priority, GW_PRIO_NORMAL);
}

static void test_custom_rules(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text(
        "{\"classification\": {\"default_category\": \"other\", \"categories\": ["
        "{\"name\": \"vip\", \"queue\": \"vip\", \"min_priority\": \"urgent\","
        " \"keywords\": [\"Gold Member\", \"贵宾\"]},"
        "{\"name\": \"other\", \"queue\": \"general\", \"keywords\": []}],"
        " \"priority_keywords\": {\"urgent\": [\"ASAP\"], \"important\": []}}}",
        &cfg, &pr);
    gw_problems_clear(&pr);
    assert_int_equal(err, GW_OK);
    struct gw_classification c = gw_classify(cfg, NULL, "I am a GOLD MEMBER");
    assert_string_equal(c.category->name, "vip");
    assert_int_equal(c.priority, GW_PRIO_URGENT);
    c = gw_classify(cfg, NULL, "贵宾客户");
    assert_string_equal(c.category->name, "vip");
    c = gw_classify(cfg, NULL, "my order, asap");
    assert_string_equal(c.category->name, "other");
    assert_int_equal(c.priority, GW_PRIO_URGENT);
    c = gw_classify(cfg, NULL, "the server is down");
    assert_int_equal(c.priority, GW_PRIO_NORMAL);
    gw_config_free(cfg);
}

/* NULL-safe string compare for the language answers, which may be NULL. */
static void lang_is(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got ? got : "(null)", want);
}

static void test_detect_language(void **state)
{
    (void)state;
    lang_is(gw_detect_language(NULL, "你好，我的订单呢", true), "zh");
    lang_is(gw_detect_language("订单", NULL, true), "zh");
    lang_is(gw_detect_language("Order 12345", "我的订单", true), "zh");
    lang_is(gw_detect_language("Where is my order?", "Thanks", true), "en");
    /* Nothing written says nothing: the stored preference or the browser decides. */
    lang_is(gw_detect_language(NULL, NULL, true), NULL);
    lang_is(gw_detect_language("", "", true), NULL);
    lang_is(gw_detect_language(NULL, "12345 !", true), NULL);
    lang_is(gw_detect_language(NULL, "Café crème, déjà vu", true), "en");
    /* Punctuation alone is not Chinese; an ideograph after an emoji still is. */
    lang_is(gw_detect_language(NULL, "。，！", true), NULL);
    lang_is(gw_detect_language(NULL, "\xF0\x9F\x98\x80 ok", true), "en");
    lang_is(gw_detect_language(NULL, "\xF0\x9F\x98\x80\xE4\xBD\xA0\xE5\xA5\xBD", true), "zh");
    lang_is(gw_detect_language(NULL, "é中", true), "zh");
    /* CJK extension B (U+20BB7) lives in plane 2, encoded in four bytes. */
    lang_is(gw_detect_language(NULL, "\xF0\xA0\xAE\xB7", true), "zh");
    /* An adapter's own English summary (a call) says nothing; Chinese in it still does. */
    lang_is(gw_detect_language("Missed call from +8613800138000", "Please call back.", false),
            NULL);
    lang_is(gw_detect_language("Voicemail", "Transcript: 我的打印机坏了", false), "zh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_english_categories),
        cmocka_unit_test(test_chinese_categories),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_word_boundaries),
        cmocka_unit_test(test_chinese_matches_inside_text),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_priority_from_subject),
        cmocka_unit_test(test_complaint_minimum_priority),
        cmocka_unit_test(test_queue_from_category),
        cmocka_unit_test(test_null_subject_and_body),
        cmocka_unit_test(test_keyword_not_across_subject_and_body),
        cmocka_unit_test(test_long_body_first_part_decides),
        cmocka_unit_test(test_custom_rules),
        cmocka_unit_test(test_detect_language),
    };
    return cmocka_run_group_tests(tests, load_defaults, free_config);
}
