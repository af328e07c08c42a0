/*
 * The desk end to end, the satisfaction survey's whole life: the link by
 * mail on resolution, the page, an answer with a gap, a low rating that
 * opens a follow-up for supervisors, a second answer, forged, expired and
 * superseded links; and the link by chat and by text message, in the
 * customer's language.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk_env.h"

/* A survey link ("/s/<token>") in the first n mails other than not_this, malloc'd. */
static char *survey_path(struct harness_smtp *smtp, int n, const char *not_this)
{
    for (int i = 0; i < n; i++) {
        char *msg = desk_env_mail_text(smtp, i);
        const char *p = strstr(msg, "/s/");
        char *path = p ? strndup(p, 3 + 64) : NULL;
        free(msg);
        if (path && (!not_this || strcmp(path, not_this)))
            return path;
        free(path);
    }
    fail_msg("no survey link in %d mails", n);
    return NULL;
}

static long form_post(const struct desk_env *f, const char *path, const char *form, char **body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->gw.base, path);
    struct harness_response r;
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded", form, strlen(form), &r);
    long s = r.status;
    if (body)
        *body = strdup(r.body);
    harness_response_free(&r);
    return s;
}

static void test_survey_lifecycle(void **state)
{
    (void)state;
    struct desk_env f;
    desk_env_start(&f, "desk_survey", NULL);
    char ann[64], sue[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical", "10", ann, sizeof(ann));
    desk_env_add_agent(&f, "Sue", "sue@desk.test", "supervisor", "complaints", "10", sue,
                       sizeof(sue));
    struct ws_client *ss = desk_env_stream(&f, sue, 0, "away");
    /* (An API contact is acknowledged to its caller, not by mail: the survey is mail 0.) */
    char *t = desk_env_contact(&f, "v1", "cust@x.test", "the app crashes");
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    assert_int_equal(harness_smtp_wait(&f.smtp, 1, DESK_WAIT_MS), 1);
    char *link = survey_path(&f.smtp, 1, NULL);
    /* The token left the outbox once sent; only its hash stays. */
    assert_int_equal(
        harness_pg_wait(
            f.pg, "SELECT count(*) FROM outbox WHERE kind = 'survey' AND payload ? 'token'", 0),
        0);

    char url[256];
    snprintf(url, sizeof(url), "%s%s", f.gw.base, link);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    if (r.status != 200)
        fprintf(stderr, "GET %s: %ld %s\n", url, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "name=\"overall\""));
    assert_non_null(strstr(r.body, t));
    harness_response_free(&r);
    /* A form with a gap comes back with the problem and stores nothing. */
    char *page = NULL;
    assert_int_equal(form_post(&f, link, "overall=5", &page), 400);
    assert_non_null(strstr(page, "every question"));
    free(page);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM surveys WHERE answered_at IS NOT NULL"), 0);
    /* A low rating: saved, and a follow-up for the supervisors due in 3 working days. */
    const char *answer = "response_speed=5&resolution_efficiency=2&attitude=5&professionalism=4"
                         "&overall=3&comment=Took+too+long+%E5%A4%AA%E6%85%A2";
    assert_int_equal(form_post(&f, link, answer, NULL), 200);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM surveys WHERE overall = 3 AND "
                               "resolution_efficiency = 2 AND comment = 'Took too long 太慢'"),
        1);
    assert_int_equal(
        harness_pg_longf(f.pg, "SELECT count(*) FROM followups WHERE queue = 'complaints' AND "
                               "closed_at IS NULL AND due_at = intake_add_working_days("
                               "created_at, 3, NULL)"),
        1);
    desk_env_expect_event(ss, "followup.opened", t);
    /* The link works once. */
    assert_int_equal(form_post(&f, link, answer, NULL), 409);
    /* A forged token and a malformed one each get a page, not a 500. */
    char forged[80];
    snprintf(forged, sizeof(forged), "/s/%064d", 0);
    assert_int_equal(form_post(&f, forged, answer, NULL), 404);
    assert_int_equal(form_post(&f, "/s/not-a-token", answer, NULL), 404);

    /* The supervisor closes the follow-up with what was done. */
    long fid = harness_pg_longf(f.pg, "SELECT id FROM followups");
    snprintf(path, sizeof(path), "/v1/followups/%ld/close", fid);
    assert_int_equal(desk_env_status(&f, sue, "POST", path, "{\"outcome\":\"called, apologised\"}"),
                     200);
    assert_int_equal(desk_env_status(&f, sue, "POST", path, "{\"outcome\":\"again\"}"), 409);

    /* The customer writes again: reopened; the next resolution sends a new survey. */
    char json[256];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"v2\",\"customer\":{\"email\":\"cust@x.test\"},"
             "\"ticket\":\"%s\",\"body\":\"still broken\"}",
             t);
    harness_post_contact(&f.gw, json, &r);
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", t);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    assert_int_equal(harness_smtp_wait(&f.smtp, 2, DESK_WAIT_MS), 2);
    char *link2 = survey_path(&f.smtp, 2, link);
    assert_string_not_equal(link, link2);
    assert_int_equal(harness_pg_longf(f.pg, "SELECT count(*) FROM surveys"), 2);
    /* Expired: a page that says so. */
    harness_pg_exec(f.pg, "UPDATE surveys SET expires_at = now() - interval '1 second' WHERE "
                          "answered_at IS NULL");
    snprintf(url, sizeof(url), "%s%s", f.gw.base, link2);
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 410);
    assert_non_null(strstr(r.body, "expired"));
    harness_response_free(&r);
    ws_free(ss);
    free(link), free(link2), free(t);
    desk_env_stop(&f);
}

static void test_surveys_go_by_chat_and_text_in_the_customers_language(void **state)
{
    (void)state;
    struct desk_env f;
    /* Business hours too: a chat's deadlines count only 09:00-18:00 on weekdays. */
    desk_env_start(&f, "desk_survey_channels",
                   "\"business_hours\":{\"timezone\":\"Asia/Shanghai\",\"start\":\"09:00\","
                   "\"end\":\"18:00\"}");
    char ann[64];
    desk_env_add_agent(&f, "Ann", "ann@desk.test", "agent", "technical,general", "10", ann,
                       sizeof(ann));

    /* A chat customer still in the conversation gets the link as a chat event. */
    struct ws_client *chat =
        ws_connect(f.gw.port, "/v1/chat", "intake-chat.v1", "http://shop.example");
    assert_non_null(chat);
    assert_true(ws_send(chat, "{\"type\":\"hello\",\"lang\":\"zh\"}"));
    free(ws_recv_type(chat, "welcome", DESK_WAIT_MS));
    assert_true(
        ws_send(chat, "{\"type\":\"message\",\"client_id\":\"m1\",\"text\":\"软件打不开了\"}"));
    char *ack = ws_recv_type(chat, "ack", DESK_WAIT_MS);
    assert_non_null(ack);
    char *ticket = harness_json_str(ack, "ticket");
    free(ack);
    assert_int_equal(
        harness_pg_longf(f.pg,
                         "SELECT count(*) FROM tickets WHERE number = '%s' AND "
                         "first_response_due_at = intake_business_add(created_at, 900, "
                         "'{\"tz\":\"Asia/Shanghai\",\"days\":[1,2,3,4,5],\"start\":"
                         "\"09:00\",\"end\":\"18:00\"}')",
                         ticket),
        1);
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", ticket);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    char *notice = NULL;
    for (int i = 0; i < 10 && !notice; i++) {
        char *ev = ws_recv_type(chat, "notice", DESK_WAIT_MS);
        assert_non_null(ev);
        if (strstr(ev, "\"notice\":\"survey\""))
            notice = ev;
        else
            free(ev);
    }
    assert_non_null(notice);
    char *url = harness_json_str(notice, "url");
    assert_non_null(strstr(url, "/s/"));
    /* The page speaks the customer's language. */
    struct harness_response r;
    char full[256];
    snprintf(full, sizeof(full), "%s%s", f.gw.base, strstr(url, "/s/"));
    harness_http("GET", full, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "满意度调查"));
    assert_non_null(strstr(r.body, "lang=\"zh\""));
    harness_response_free(&r);
    free(url), free(notice), free(ticket);
    ws_free(chat);

    /* A caller gets it by text message. */
    char *phone_ticket = desk_env_missed_call(&f, "13811113333", "call-88");
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", phone_ticket);
    assert_int_equal(desk_env_status(&f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    assert_int_equal(sink_wait(&f.sms, 2, DESK_WAIT_MS), 2);
    char *body = desk_env_sms_text(&f, 1);
    assert_non_null(strstr(body, "To=+8613811113333"));
    assert_non_null(strstr(body, "/s/"));
    assert_non_null(strstr(body, phone_ticket));
    curl_free(body);
    free(phone_ticket);
    desk_env_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_survey_lifecycle),
        cmocka_unit_test(test_surveys_go_by_chat_and_text_in_the_customers_language),
    };
    return cmocka_run_group_tests_name("desk surveys", tests, NULL, NULL);
}
