/*
 * Logs carry no personal data (issue 24). A gateway is taken through every
 * channel with distinctive personal data: an API contact with a callback URL
 * that fails (its token in the URL), mail by the HTTP route and by the MTA
 * pipe, a mail whose acknowledgement a real SMTP server refuses with the
 * recipient's address and name in its answer, Twilio, CTI and our own
 * signed phone events, a chat session with an agent's reply, a survey
 * answer. Then everything it logged (and what `intake ingest-email` said) is
 * searched for every name, address, phone number (several spellings),
 * subject, text and token: 0 hits. Once per log.format; in json and
 * keyvalue every line must read back as such, and the search runs over the
 * decoded values, so an escape cannot hide a hit.
 * (IMAP polling logs through the same registration path and is left out:
 * dovecot would add half a minute.)
 */
#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "desk_env.h"
#include "phone_webhooks.h"
#include "signers.h"

#define TWILIO_TOKEN "tw-privacy-Secret-8814"
#define HOOK_SECRET  "hook-privacy-Secret-5521"
#define SMS_TOKEN    "sms-privacy-Secret-3307"
#define PUBLIC_URL   "https://help.example.com"

/* Everything personal the scenario sends; none of it may be logged. */
static const char *const personal[] = {
    /* names */
    "Zorabel", "Quillfeather", "Orsolya", "Vantongeren", "Wilhelmina", "Brackenridge", "Yvaine",
    "Pemberton", "Xanthe", "Marrowby", "Thistlewood",
    /* addresses */
    "privacy-mail.example", "zorabel.q", "orsolya.v", "wilhelmina.brackenridge", "yvaine.p",
    "xanthe.m", "ann.thistlewood",
    /* phone numbers, in the spellings they were given and as stored */
    "13700001111", "137 0000 1111", "4155550142", "13912345678", "2079460958",
    /* subjects and texts */
    "Kumquat", "Periwinkle", "Quokka", "Tangerine", "Marmalade", "Gooseberry", "Saffron",
    /* tokens and secrets given in the scenario */
    "cb-secret-Zq81", "Hx77tokenvalue99", "RecTok12345", TWILIO_TOKEN, HOOK_SECRET, SMS_TOKEN,
    DESK_CTI_TOKEN, HARNESS_TOKEN, NULL};

/* An SMTP server that refuses "refused.*" recipients, naming them (smtp_refusing_server.py). */
static void refusing_smtp_start(struct harness_smtp *smtp)
{
    smtp->port = harness_free_port();
    snprintf(smtp->dir, sizeof(smtp->dir), "/tmp/intake-smtp-privacy-%d-%d", (int)getpid(),
             smtp->port);
    char port[16], script[256];
    snprintf(port, sizeof(port), "%d", smtp->port);
    snprintf(script, sizeof(script), "%s/tests/support/smtp_refusing_server.py", INTAKE_SOURCE_DIR);
    smtp->pid = fork();
    assert_true(smtp->pid >= 0);
    if (smtp->pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl("/usr/bin/python3", "python3", script, port, smtp->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        char url[64];
        snprintf(url, sizeof(url), "telnet://127.0.0.1:%d", smtp->port);
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_cleanup(c);
        if (rc == CURLE_OK)
            return;
        usleep(25 * 1000);
    }
    fail_msg("the refusing SMTP server did not start");
}

static void start(struct desk_env *f, const char *format, struct sink *callback)
{
    const int statuses[] = {201};
    const int failing[] = {500, 500, 500, 500, 500, 500, 500, 500};
    refusing_smtp_start(&f->smtp);
    sink_start(&f->sms, statuses, 1);
    sink_start(callback, failing, 8);
    char config[2048];
    snprintf(config, sizeof(config),
             "{\"public_url\":\"" PUBLIC_URL "/\","
             "\"smtp\":{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":\"no\"},"
             "\"outbox\":{\"poll_ms\":100,\"backoff_seconds\":1},"
             "\"channels\":{\"email\":{\"from_address\":\"help@desk.example\"},"
             "\"phone\":{\"default_country_code\":\"86\",\"cti_token\":\"" DESK_CTI_TOKEN "\","
             "\"twilio_auth_token\":\"" TWILIO_TOKEN "\",\"webhook_secret\":\"" HOOK_SECRET "\","
             "\"sms\":{\"url\":\"http://127.0.0.1:%d/Messages.json\",\"from\":\"+861000000000\","
             "\"account\":\"AC1\",\"token\":\"" SMS_TOKEN "\"}},"
             "\"chat\":{\"allowed_origins\":[\"http://shop.example\"]}},"
             "\"log\":{\"format\":\"%s\"}}",
             f->smtp.port, f->sms.port, format);
    char name[32];
    snprintf(name, sizeof(name), "logpriv_%s", format);
    harness_db_create(&f->db, name);
    assert_int_equal(harness_migrate(f->db.url, NULL, 0), 0);
    harness_gateway_start_config(&f->gw, f->db.url, config, NULL);
    f->pg = harness_pg(f->db.url);
}

static char *post_mail(const struct desk_env *f, const char *from, const char *id)
{
    char mail[1024];
    snprintf(mail, sizeof(mail),
             "From: %s\r\nTo: help@desk.example\r\nSubject: Kumquat invoice 7731\r\n"
             "Message-ID: <%s@mua.example>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\r\n"
             "Periwinkle lighthouse, call me on +86 137 0000 1111.\r\n",
             from, id);
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/email/inbound", f->gw.base);
    struct harness_response r;
    harness_http("POST", url, HARNESS_TOKEN, "message/rfc822", mail, strlen(mail), &r);
    assert_int_equal(r.status, 201);
    char *ticket = harness_json_str(r.body, "ticket");
    harness_response_free(&r);
    assert_non_null(ticket);
    return ticket;
}

/* The survey link's path in the mails (a survey token is personal too: it is the customer's). */
static char *survey_path(struct harness_smtp *smtp, int n)
{
    for (int i = 0; i < n; i++) {
        char *msg = desk_env_mail_text(smtp, i);
        const char *p = msg ? strstr(msg, "/s/") : NULL;
        if (p) {
            char *path = strndup(p, strspn(p, "/s0123456789abcdefABCDEF-_"));
            free(msg);
            return path;
        }
        free(msg);
    }
    return NULL;
}

/* Waits up to 10 s for a line of the log holding needle. */
static void wait_logged(const char *path, const char *needle)
{
    for (int i = 0; i < 100; i++) {
        if (harness_count_lines(path, needle) > 0)
            return;
        usleep(100 * 1000);
    }
    fail_msg("nothing logged with \"%s\"", needle);
}

/* Runs every channel; adds the tokens it was handed out to tokens. */
static void run_channels(struct desk_env *f, struct sink *callback, const char *format,
                         char tokens[][128], int *n_tokens)
{
    char ann[128];
    desk_env_add_agent(f, "Ann Thistlewood", "ann.thistlewood@desk.test", "supervisor",
                       "general,technical,orders,presales,complaints", "50", ann, sizeof(ann));
    snprintf(tokens[(*n_tokens)++], 128, "%s", ann);

    /* The API, with a callback that fails and holds a token. */
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"external_id\":\"priv-1\",\"customer\":{\"name\":\"Zorabel Quillfeather\","
             "\"email\":\"zorabel.q@privacy-mail.example\",\"phone\":\"+86 137 0000 1111\"},"
             "\"subject\":\"Kumquat order\",\"body\":\"Saffron delivery missing\","
             "\"callback_url\":\"http://127.0.0.1:%d/hook/cb-secret-Zq81?sig=Hx77tokenvalue99\"}",
             callback->port);
    free(harness_post_new_contact(&f->gw, json));

    /* Mail by the route (acknowledged), and one whose acknowledgement is refused. */
    char *mail_ticket = post_mail(f, "Orsolya Vantongeren <orsolya.v@privacy-mail.example>", "m1");
    free(post_mail(
        f, "Wilhelmina Brackenridge <refused.wilhelmina.brackenridge@privacy-mail.example>", "m2"));

    /* Mail by the MTA pipe, which logs to its own stderr. */
    char raw[512], out[4096] = "";
    snprintf(raw, sizeof(raw),
             "From: Yvaine Pemberton <yvaine.p@privacy-mail.example>\r\nTo: help@desk.example\r\n"
             "Subject: Kumquat refund\r\nMessage-ID: <pipe-%s@mua.example>\r\n\r\nGooseberry.\r\n",
             format);
    setenv("INTAKE_LOG_FORMAT", format, 1);
    assert_int_equal(harness_ingest_email(f->db.url, raw, out, sizeof(out)), 0);
    unsetenv("INTAKE_LOG_FORMAT");
    /* Its log lines join the gateway's; its answer on stdout ("SR-000004 new") is not one. */
    FILE *log = fopen(f->gw.log_path, "a");
    assert_non_null(log);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "SR-", 3))
            fprintf(log, "%s\n", line);
    fclose(log);

    /* Phone: Twilio, CTI (waits for its text message), our signed events. */
    const char *twilio[] = {"CallSid=CApriv1",   "CallStatus=no-answer", "Direction=inbound",
                            "From=+14155550142", "To=+861012345678",     NULL};
    assert_int_equal(webhook_twilio(&f->gw, PUBLIC_URL, TWILIO_TOKEN, NULL, twilio, NULL), 200);
    /* Its text message first: the CTI call's helper counts the next one as its own. */
    assert_int_equal(sink_wait(&f->sms, 1, DESK_WAIT_MS), 1);
    free(desk_env_missed_call(f, "13912345678", "priv-cti-1"));
    assert_int_equal(
        webhook_native(&f->gw, HOOK_SECRET, (long)time(NULL),
                       "{\"event_id\":\"priv-vm\",\"call_id\":\"priv-n1\",\"type\":\"voicemail\","
                       "\"from\":\"+442079460958\",\"to\":\"+861012345678\",\"transcript\":"
                       "\"Gooseberry voicemail\",\"recording_url\":"
                       "\"https://rec.example.com/r.mp3?token=RecTok12345\"}",
                       NULL),
        200);

    /* Chat: a customer with a profile, and the agent's answer. */
    struct ws_client *chat =
        ws_connect(f->gw.port, "/v1/chat", "intake-chat.v1", "http://shop.example");
    assert_non_null(chat);
    assert_true(ws_send(chat, "{\"type\":\"hello\",\"lang\":\"en\",\"profile\":{\"name\":"
                              "\"Xanthe Marrowby\",\"email\":\"xanthe.m@privacy-mail.example\"}}"));
    char *welcome = ws_recv_type(chat, "welcome", DESK_WAIT_MS);
    assert_non_null(welcome);
    char *chat_token = harness_json_str(welcome, "token");
    assert_non_null(chat_token);
    snprintf(tokens[(*n_tokens)++], 128, "%s", chat_token);
    free(chat_token);
    free(welcome);
    assert_true(ws_send(chat, "{\"type\":\"message\",\"client_id\":\"q1\",\"text\":\"Quokka "
                              "lantern broken\"}"));
    char *ack = ws_recv_type(chat, "ack", DESK_WAIT_MS);
    assert_non_null(ack);
    char *chat_ticket = harness_json_str(ack, "ticket");
    free(ack);
    char path[128];
    snprintf(path, sizeof(path), "/v1/tickets/%s/replies", chat_ticket);
    assert_int_equal(desk_env_status(f, ann, "POST", path,
                                     "{\"text\":\"Tangerine zeppelin answer\",\"key\":\"r1\"}"),
                     201);
    free(ws_recv_type(chat, "message", DESK_WAIT_MS));
    ws_free(chat);
    free(chat_ticket);

    /* A survey: resolve the mailed ticket, answer the link it sends. */
    int before = harness_smtp_wait(&f->smtp, 1, DESK_WAIT_MS);
    snprintf(path, sizeof(path), "/v1/tickets/%s/status", mail_ticket);
    assert_int_equal(desk_env_status(f, ann, "POST", path, "{\"status\":\"resolved\"}"), 200);
    assert_true(harness_smtp_wait(&f->smtp, before + 1, DESK_WAIT_MS) > before);
    char *link = NULL;
    for (int i = 0; i < 50 && !link; i++) {
        link = survey_path(&f->smtp, harness_smtp_wait(&f->smtp, before + 1, 100));
        if (!link)
            usleep(100 * 1000);
    }
    assert_non_null(link);
    snprintf(tokens[(*n_tokens)++], 128, "%s", link + 3);
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->gw.base, link);
    const char *answer = "response_speed=5&resolution_efficiency=4&attitude=5&professionalism=4"
                         "&overall=2&comment=Marmalade+comet+remark";
    struct harness_response r;
    harness_http("POST", url, NULL, "application/x-www-form-urlencoded", answer, strlen(answer),
                 &r);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    free(link);
    free(mail_ticket);

    /* The refusal and the failed callback were met and logged (as codes). */
    wait_logged(f->gw.log_path, "550");
    wait_logged(f->gw.log_path, "HTTP 500");
}

/* The log as text to search: json and keyvalue lines decoded (each must read back). */
static char *decoded_log(const char *path, const char *format)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    size_t cap = 1 << 20, len = 0;
    char *all = calloc(1, cap);
    char line[16384];
    int lines = 0;
    while (fgets(line, sizeof(line), in)) {
        lines++;
        json_t *o = NULL;
        if (!strcmp(format, "json")) {
            json_error_t err;
            o = json_loads(line, 0, &err);
            if (!json_is_object(o))
                fail_msg("not a JSON object: %s", line);
        } else if (!strcmp(format, "keyvalue")) {
            o = json_object();
            for (const char *p = line; *p && *p != '\n';) {
                const char *eq = strchr(p, '=');
                if (!eq || strchr(" \"", *p))
                    fail_msg("not logfmt: %s", line);
                char key[64];
                snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
                p = eq + 1;
                json_t *v;
                if (*p == '"') {
                    const char *q = p + 1;
                    while (*q && *q != '"')
                        q += *q == '\\' && q[1] ? 2 : 1;
                    char *quoted = strndup(p, (size_t)(q - p + 1));
                    v = *q ? json_loads(quoted, JSON_DECODE_ANY, NULL) : NULL;
                    free(quoted);
                    if (!v)
                        fail_msg("a badly quoted logfmt value: %s", line);
                    p = q + 1;
                } else {
                    size_t n = strcspn(p, " \n");
                    v = json_stringn(p, n);
                    p += n;
                }
                json_object_set_new(o, key, v);
                if (*p == ' ')
                    p++;
            }
            if (!json_object_get(o, "ts") || !json_object_get(o, "level"))
                fail_msg("a logfmt line without ts and level: %s", line);
        }
        char *text = o ? json_dumps(o, JSON_COMPACT) : strdup(line);
        json_decref(o);
        size_t n = strlen(text);
        if (len + n + 2 > cap)
            all = realloc(all, cap = (len + n + 2) * 2);
        memcpy(all + len, text, n);
        len += n;
        all[len++] = '\n';
        all[len] = '\0';
        free(text);
    }
    fclose(in);
    assert_true(lines > 10);
    return all;
}

/*
 * Lines about contacts, on every channel (the chat socket's, the pipe's,
 * the phone webhooks'), name the request they were handled for; returns
 * how many lines there were.
 */
static int contact_lines_name_their_request(const char *path)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), in))
        if (strstr(line, "contact.registered")) {
            n++;
            if (!strstr(line, "request=") && !strstr(line, "\"request\":\""))
                fail_msg("a contact's line names no request: %s", line);
        }
    fclose(in);
    return n;
}

static void check_format(const char *format)
{
    struct desk_env f;
    struct sink callback;
    start(&f, format, &callback);
    char tokens[8][128];
    int n_tokens = 0;
    run_channels(&f, &callback, format, tokens, &n_tokens);
    assert_int_equal(harness_gateway_stop(&f.gw), 0);
    f.gw.pid = 0;

    assert_true(contact_lines_name_their_request(f.gw.log_path) >= 5);
    char *log = decoded_log(f.gw.log_path, format);
    /* What it did is there: tickets registered by every channel, deliveries failed by code. */
    assert_non_null(strstr(log, "contact.registered"));
    assert_non_null(strstr(log, "550 5.1.1"));
    int hits = 0;
    for (const char *const *p = personal; *p; p++)
        if (strcasestr(log, *p)) {
            fprintf(stderr, "%s log holds \"%s\"\n", format, *p);
            hits++;
        }
    for (int i = 0; i < n_tokens; i++)
        if (strstr(log, tokens[i])) {
            fprintf(stderr, "%s log holds a token it handed out: %s\n", format, tokens[i]);
            hits++;
        }
    if (hits)
        fprintf(stderr, "--- the %s log ---\n%s", format, log);
    assert_int_equal(hits, 0);
    free(log);
    sink_stop(&callback);
    desk_env_stop(&f);
}

static void test_text_log_holds_no_personal_data(void **state)
{
    (void)state;
    check_format("text");
}

static void test_keyvalue_log_holds_no_personal_data(void **state)
{
    (void)state;
    check_format("keyvalue");
}

static void test_json_log_holds_no_personal_data(void **state)
{
    (void)state;
    check_format("json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_log_holds_no_personal_data),
        cmocka_unit_test(test_keyvalue_log_holds_no_personal_data),
        cmocka_unit_test(test_json_log_holds_no_personal_data),
    };
    return cmocka_run_group_tests_name("log privacy", tests, NULL, NULL);
}
