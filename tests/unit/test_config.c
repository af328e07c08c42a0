/*
 * Configuration loading: the built-in defaults (DESIGN.md's SLA table), a user
 * file merged over them object by object, the environment over both, and a
 * validation pass that reports every problem with its JSON path rather than
 * stopping at the first. Runs under ASan, so every config and problem list is freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_config.h"
#include "gw_log.h"

static const char *const env_names[] = {"INTAKE_LISTEN", "INTAKE_API_TOKEN", "INTAKE_DATABASE_URL",
                                        "INTAKE_PUBLIC_URL"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
}

/* Every test starts and ends without the overriding variables. */
static int env_clean(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* True when some problem is about exactly this path ("path: what is wrong"). */
static int has_problem(const struct gw_problems *p, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < p->n; i++)
        if (!strncmp(p->items[i], path, n) && p->items[i][n] == ':')
            return 1;
    return 0;
}

static int any_problem_contains(const struct gw_problems *p, const char *needle)
{
    for (size_t i = 0; i < p->n; i++)
        if (strstr(p->items[i], needle))
            return 1;
    return 0;
}

static void print_problems(const struct gw_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        print_message("  problem: %s\n", p->items[i]);
}

/* Loads text that must be valid; fails the test with the problems otherwise. */
static struct gw_config *load_ok(const char *text)
{
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text(text, &cfg, &pr);
    print_problems(&pr);
    assert_int_equal(err, GW_OK);
    assert_int_equal(pr.n, 0);
    assert_non_null(cfg);
    gw_problems_clear(&pr);
    return cfg;
}

static const struct gw_category *find_category(const struct gw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_categories; i++)
        if (cfg->categories[i].name && !strcmp(cfg->categories[i].name, name))
            return &cfg->categories[i];
    return NULL;
}

/* Writes text to a fresh temporary file; returns its malloc'd path. */
static char *write_temp(const char *text)
{
    char tmpl[] = "/tmp/gw_test_config_XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    char *path = strdup(tmpl);
    assert_non_null(path);
    return path;
}

static void test_defaults_sla_table(void **state)
{
    (void)state;
    struct gw_config *cfg = load_ok(NULL);
    /* DESIGN.md: urgent 5 min / 2 h, important 15 min / 24 h, normal 15 min / 48 h. */
    assert_int_equal(cfg->sla[GW_PRIO_URGENT].first_response_s, 5 * 60);
    assert_int_equal(cfg->sla[GW_PRIO_URGENT].handling_s, 2 * 3600);
    assert_int_equal(cfg->sla[GW_PRIO_IMPORTANT].first_response_s, 15 * 60);
    assert_int_equal(cfg->sla[GW_PRIO_IMPORTANT].handling_s, 24 * 3600);
    assert_int_equal(cfg->sla[GW_PRIO_NORMAL].first_response_s, 15 * 60);
    assert_int_equal(cfg->sla[GW_PRIO_NORMAL].handling_s, 48 * 3600);
    /* Escalation level 1 resolves in 24 h, level 2 in 48 h. */
    assert_int_equal(cfg->resolve_s[0], 24 * 3600);
    assert_int_equal(cfg->resolve_s[1], 48 * 3600);
    gw_config_free(cfg);
}

static void test_defaults_values(void **state)
{
    (void)state;
    struct gw_config *cfg = load_ok(NULL);
    assert_string_equal(cfg->listen_host, "127.0.0.1");
    assert_int_equal(cfg->listen_port, 8080);
    assert_string_equal(cfg->public_url, "http://127.0.0.1:8080");
    assert_non_null(cfg->database_url);
    assert_null(cfg->api_token);
    /* "workers": 0 means half the CPUs, at least one. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(cfg->db_workers, cpus >= 4 ? cpus / 2 : 1);
    assert_int_equal(cfg->db_batch_max, 128);
    assert_int_equal(cfg->queue_max, 8192);
    assert_int_equal(cfg->max_body, 256 * 1024);
    assert_string_equal(cfg->ticket_prefix, "SR-");
    assert_string_equal(cfg->customer_prefix, "C-");
    assert_int_equal(cfg->outbox_max_attempts, 8);
    /* The desk's own settings, loaded through its adapter hooks (desk/desk_settings.c). */
    assert_non_null(gw_config_settings(cfg, "desk"));

    /* DESIGN.md's taxonomy plus the fallback, in precedence order (complaint first). */
    static const char *const names[] = {
        "complaint", "callback", "aftersale.fault.hardware", "aftersale.fault.software",
        "order",     "presale",  "aftersale.usage",          "suggestion",
        "general"};
    assert_int_equal(cfg->n_categories, sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < cfg->n_categories; i++)
        assert_string_equal(cfg->categories[i].name, names[i]);
    assert_string_equal(cfg->categories[cfg->default_category].name, "general");
    assert_string_equal(find_category(cfg, "complaint")->queue, "complaints");
    assert_int_equal(find_category(cfg, "complaint")->min_priority, GW_PRIO_IMPORTANT);
    assert_string_equal(find_category(cfg, "order")->queue, "orders");
    assert_int_equal(find_category(cfg, "order")->min_priority, GW_PRIO_NORMAL);
    assert_true(cfg->n_priority_keywords[GW_PRIO_URGENT] > 0);
    assert_true(cfg->n_priority_keywords[GW_PRIO_IMPORTANT] > 0);
    gw_config_free(cfg);
}

static void test_defaults_from_load_without_file(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load(NULL, &cfg, &pr), GW_OK);
    assert_int_equal(pr.n, 0);
    assert_non_null(cfg);
    assert_int_equal(cfg->listen_port, 8080);
    assert_int_equal(cfg->sla[GW_PRIO_URGENT].first_response_s, 300);
    gw_config_free(cfg);
}

static void test_priority_names(void **state)
{
    (void)state;
    assert_string_equal(gw_priority_name(GW_PRIO_URGENT), "urgent");
    assert_string_equal(gw_priority_name(GW_PRIO_IMPORTANT), "important");
    assert_string_equal(gw_priority_name(GW_PRIO_NORMAL), "normal");
}

static void test_nested_override_keeps_siblings(void **state)
{
    (void)state;
    struct gw_config *cfg = load_ok("{\"database\":{\"workers\":4}}");
    assert_int_equal(cfg->db_workers, 4);
    assert_int_equal(cfg->db_batch_max, 128);
    assert_int_equal(cfg->queue_max, 8192);
    gw_config_free(cfg);

    cfg = load_ok("{\"sla\":{\"urgent\":{\"first_response_minutes\":3}}}");
    assert_int_equal(cfg->sla[GW_PRIO_URGENT].first_response_s, 180);
    assert_int_equal(cfg->sla[GW_PRIO_URGENT].handling_s, 2 * 3600);
    assert_int_equal(cfg->sla[GW_PRIO_NORMAL].handling_s, 48 * 3600);
    gw_config_free(cfg);
}

static void test_file_overrides_defaults(void **state)
{
    (void)state;
    char *path = write_temp("{\"listen\":\"0.0.0.0:9090\",\"api_token\":\"from-file\","
                            "\"numbers\":{\"ticket_prefix\":\"T-\"}}");
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load(path, &cfg, &pr);
    unlink(path);
    free(path);
    print_problems(&pr);
    assert_int_equal(err, GW_OK);
    assert_string_equal(cfg->listen_host, "0.0.0.0");
    assert_int_equal(cfg->listen_port, 9090);
    assert_string_equal(cfg->api_token, "from-file");
    assert_string_equal(cfg->ticket_prefix, "T-");
    assert_string_equal(cfg->customer_prefix, "C-");
    gw_config_free(cfg);
    gw_problems_clear(&pr);
}

static void test_environment_beats_file(void **state)
{
    (void)state;
    char *path = write_temp("{\"listen\":\"0.0.0.0:9090\",\"api_token\":\"from-file\","
                            "\"database_url\":\"postgresql:///file\","
                            "\"public_url\":\"http://file.example\"}");
    setenv("INTAKE_LISTEN", "10.1.2.3:7000", 1);
    setenv("INTAKE_API_TOKEN", "from-env", 1);
    setenv("INTAKE_DATABASE_URL", "postgresql://env-host/intake", 1);
    setenv("INTAKE_PUBLIC_URL", "https://env.example", 1);
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load(path, &cfg, &pr);
    clear_env();
    unlink(path);
    free(path);
    print_problems(&pr);
    assert_int_equal(err, GW_OK);
    assert_string_equal(cfg->listen_host, "10.1.2.3");
    assert_int_equal(cfg->listen_port, 7000);
    assert_string_equal(cfg->api_token, "from-env");
    assert_string_equal(cfg->database_url, "postgresql://env-host/intake");
    assert_string_equal(cfg->public_url, "https://env.example");
    gw_config_free(cfg);
    gw_problems_clear(&pr);
}

static void test_environment_beats_text_and_defaults(void **state)
{
    (void)state;
    setenv("INTAKE_API_TOKEN", "secret-token", 1);
    setenv("INTAKE_LISTEN", "[::1]:9000", 1);
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text("{\"listen\":\"127.0.0.1:1234\"}", &cfg, &pr);
    clear_env();
    assert_int_equal(err, GW_OK);
    assert_string_equal(cfg->api_token, "secret-token");
    assert_string_equal(cfg->listen_host, "::1");
    assert_int_equal(cfg->listen_port, 9000);
    gw_config_free(cfg);
    gw_problems_clear(&pr);

    /* Once the variables are gone the defaults are back. */
    cfg = load_ok(NULL);
    assert_null(cfg->api_token);
    assert_int_equal(cfg->listen_port, 8080);
    gw_config_free(cfg);
}

static void test_bad_environment_is_reported(void **state)
{
    (void)state;
    setenv("INTAKE_LISTEN", "no-port-here", 1);
    setenv("INTAKE_PUBLIC_URL", "ftp://example.com", 1);
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text(NULL, &cfg, &pr);
    clear_env();
    print_problems(&pr);
    assert_int_equal(err, GW_ERR_CONFIG);
    assert_null(cfg);
    assert_int_equal(pr.n, 2);
    assert_true(has_problem(&pr, "listen"));
    assert_true(has_problem(&pr, "public_url"));
    gw_problems_clear(&pr);
}

static void test_every_problem_reported(void **state)
{
    (void)state;
    const char *text =
        "{\n"
        "  \"listne\": \"127.0.0.1:8080\",\n"
        "  \"listen\": \"localhost\",\n"
        "  \"database\": {\"workers\": \"four\", \"batch_max\": 5000},\n"
        "  \"classification\": {\n"
        "    \"default_category\": \"nope\",\n"
        "    \"categories\": [\n"
        "      {\"name\": \"a\", \"queue\": \"qa\", \"min_priority\": \"critical\",\n"
        "       \"keywords\": [\"x\"]},\n"
        "      {\"name\": \"a\", \"queue\": \"qb\", \"keywords\": []}\n"
        "    ]\n"
        "  }\n"
        "}\n";
    struct gw_problems pr = {0};
    struct gw_config *cfg = (struct gw_config *)(uintptr_t)0x1;
    enum gw_err err = gw_config_load_text(text, &cfg, &pr);
    print_problems(&pr);
    assert_int_equal(err, GW_ERR_CONFIG);
    /* Out-parameters are written only on success. */
    assert_ptr_equal(cfg, (struct gw_config *)(uintptr_t)0x1);

    static const char *const paths[] = {
        "listne",                                    /* unknown key */
        "listen",                                    /* not host:port */
        "database.workers",                          /* wrong type */
        "database.batch_max",                        /* out of range */
        "classification.default_category",           /* not a category */
        "classification.categories[0].min_priority", /* bad priority */
        "classification.categories[1].name",         /* duplicate name */
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (!has_problem(&pr, paths[i]))
            fail_msg("no problem reported for %s", paths[i]);
    }
    assert_int_equal(pr.n, sizeof(paths) / sizeof(paths[0]));
    gw_problems_clear(&pr);
    assert_int_equal(pr.n, 0);
    assert_null(pr.items);
}

static void test_more_problems(void **state)
{
    (void)state;
    const char *text = "{\"public_url\": \"example.com\", \"database_url\": \"\","
                       " \"limits\": {\"max_body_bytes\": 10},"
                       " \"sla\": {\"urgent\": {\"first_response_minutes\": 0}, \"critical\": {}},"
                       " \"escalation\": {\"resolve_hours\": [24, 48]},"
                       " \"outbox\": {\"poll_ms\": 1.5}}";
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load_text(text, &cfg, &pr), GW_ERR_CONFIG);
    print_problems(&pr);
    assert_null(cfg);
    assert_true(has_problem(&pr, "public_url"));
    assert_true(has_problem(&pr, "database_url"));
    assert_true(has_problem(&pr, "limits.max_body_bytes"));
    assert_true(has_problem(&pr, "sla.urgent.first_response_minutes"));
    assert_true(has_problem(&pr, "sla.critical"));
    assert_true(has_problem(&pr, "escalation.resolve_hours"));
    assert_true(has_problem(&pr, "outbox.poll_ms"));
    assert_int_equal(pr.n, 7);
    gw_problems_clear(&pr);
}

/* A stream lease the sweep (which runs with the SLA scan) could not tell from a gap. */
static void test_stream_lease_longer_than_the_scan(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load_text("{\"agents\": {\"stream_lease_seconds\": 30}}", &cfg, &pr),
                     GW_ERR_CONFIG);
    assert_true(has_problem(&pr, "agents.stream_lease_seconds"));
    assert_int_equal(pr.n, 1);
    gw_problems_clear(&pr);
    cfg = load_ok(
        "{\"agents\": {\"stream_lease_seconds\": 3}, \"escalation\": {\"scan_seconds\": 1}}");
    gw_config_free(cfg);
    assert_int_equal(gw_config_load_text("{\"agents\": {\"lease\": 3}}", &cfg, &pr), GW_ERR_CONFIG);
    assert_true(has_problem(&pr, "agents.lease"));
    gw_problems_clear(&pr);
    /* The defaults (a 60 s lease over a 30 s scan) hold when only the other one is given. */
    gw_config_free(load_ok("{\"escalation\": {\"scan_seconds\": 59}}"));
    assert_int_equal(gw_config_load_text("{\"escalation\": {\"scan_seconds\": 60}}", &cfg, &pr),
                     GW_ERR_CONFIG);
    assert_true(has_problem(&pr, "agents.stream_lease_seconds"));
    gw_problems_clear(&pr);
    gw_config_free(load_ok("{\"agents\": {\"stream_lease_seconds\": 31}}"));
}

static void test_bad_queue_and_keywords(void **state)
{
    (void)state;
    const char *text = "{\"classification\": {\"default_category\": \"g\", \"categories\": ["
                       "{\"name\": \"g\", \"queue\": \"Has Spaces\", \"keywords\": [\"ok\", 7]},"
                       "{\"name\": \"h\", \"queue\": \"h\", \"keywords\": \"notalist\","
                       " \"colour\": \"red\"}]}}";
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load_text(text, &cfg, &pr), GW_ERR_CONFIG);
    print_problems(&pr);
    assert_null(cfg);
    assert_true(has_problem(&pr, "classification.categories[0].queue"));
    assert_true(has_problem(&pr, "classification.categories[0].keywords[1]"));
    assert_true(has_problem(&pr, "classification.categories[1].keywords"));
    assert_true(has_problem(&pr, "classification.categories[1].colour"));
    assert_int_equal(pr.n, 4);
    gw_problems_clear(&pr);
}

static void test_custom_categories_replace_defaults(void **state)
{
    (void)state;
    struct gw_config *cfg =
        load_ok("{\"classification\": {\"default_category\": \"other\", \"categories\": ["
                "{\"name\": \"vip\", \"queue\": \"vip\", \"min_priority\": \"urgent\","
                " \"keywords\": [\"VIP\", \"Gold Member\"]},"
                "{\"name\": \"other\", \"queue\": \"general\", \"keywords\": []}]}}");
    assert_int_equal(cfg->n_categories, 2);
    assert_int_equal(cfg->default_category, 1);
    assert_int_equal(cfg->categories[0].min_priority, GW_PRIO_URGENT);
    assert_int_equal(cfg->categories[0].n_keywords, 2);
    /* Keywords are lower-cased once at load. */
    assert_string_equal(cfg->categories[0].keywords[0], "vip");
    assert_string_equal(cfg->categories[0].keywords[1], "gold member");
    /* priority_keywords were not in the file: the defaults stay. */
    assert_true(cfg->n_priority_keywords[GW_PRIO_URGENT] > 0);
    gw_config_free(cfg);
}

static void test_malformed_json_line_column(void **state)
{
    (void)state;
    const char *text = "{\n"
                       "  \"listen\": \"127.0.0.1:8080\",\n"
                       "  \"database\": {\"workers\": 4,}\n"
                       "}\n";
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load_text(text, &cfg, &pr), GW_ERR_CONFIG);
    print_problems(&pr);
    assert_null(cfg);
    assert_int_equal(pr.n, 1);
    assert_non_null(strstr(pr.items[0], "line 3"));
    assert_non_null(strstr(pr.items[0], "column "));
    gw_problems_clear(&pr);
}

static void test_malformed_file_names_path_and_line(void **state)
{
    (void)state;
    char *path = write_temp("{\n\n  \"listen\" \"x\"\n}\n");
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load(path, &cfg, &pr);
    print_problems(&pr);
    assert_int_equal(err, GW_ERR_CONFIG);
    assert_null(cfg);
    assert_int_equal(pr.n, 1);
    assert_non_null(strstr(pr.items[0], path));
    assert_non_null(strstr(pr.items[0], "line 3"));
    unlink(path);
    free(path);
    gw_problems_clear(&pr);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load("/nonexistent/dir/intake.json", &cfg, &pr), GW_ERR_CONFIG);
    assert_null(cfg);
    assert_int_equal(pr.n, 1);
    assert_non_null(strstr(pr.items[0], "/nonexistent/dir/intake.json"));
    gw_problems_clear(&pr);
}

static void test_duplicate_keys_rejected(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    assert_int_equal(gw_config_load_text(
                         "{\"listen\": \"127.0.0.1:1\", \"listen\": \"127.0.0.1:2\"}", &cfg, &pr),
                     GW_ERR_CONFIG);
    assert_null(cfg);
    assert_int_equal(pr.n, 1);
    assert_true(any_problem_contains(&pr, "line 1"));
    gw_problems_clear(&pr);
}

static void test_file_must_be_object(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    enum gw_err err = gw_config_load_text("[1, 2]", &cfg, &pr);
    /* Free before asserting so a wrong GW_OK fails on its own, without a leak report. */
    int got_config = cfg != NULL;
    int reported = pr.n == 1 && any_problem_contains(&pr, "object");
    if (err == GW_OK)
        gw_config_free(cfg);
    gw_problems_clear(&pr);
    assert_true(reported);
    /* A file that is not an object must fail the load, not fall back to the defaults. */
    assert_int_equal(err, GW_ERR_CONFIG);
    assert_false(got_config);
}

static void test_listen_ipv6(void **state)
{
    (void)state;
    struct gw_config *cfg = load_ok("{\"listen\": \"[::1]:9000\"}");
    assert_string_equal(cfg->listen_host, "::1");
    assert_int_equal(cfg->listen_port, 9000);
    gw_config_free(cfg);

    cfg = load_ok("{\"listen\": \"[2001:db8::5]:65535\"}");
    assert_string_equal(cfg->listen_host, "2001:db8::5");
    assert_int_equal(cfg->listen_port, 65535);
    gw_config_free(cfg);
}

static void test_listen_bad_values(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"listen\": \"127.0.0.1\"}",
        "{\"listen\": \":8080\"}",
        "{\"listen\": \"127.0.0.1:0\"}",
        "{\"listen\": \"127.0.0.1:65536\"}",
        "{\"listen\": \"127.0.0.1:80x\"}",
        "{\"listen\": \"127.0.0.1:\"}",
        "{\"listen\": \"127.0.0.1:-1\"}",
        "{\"listen\": 8080}",
        "{\"listen\": \"\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_problems pr = {0};
        struct gw_config *cfg = NULL;
        enum gw_err err = gw_config_load_text(bad[i], &cfg, &pr);
        if (err != GW_ERR_CONFIG || pr.n != 1 || !has_problem(&pr, "listen"))
            fail_msg("%s: err %d, %zu problems", bad[i], (int)err, pr.n);
        assert_null(cfg);
        gw_problems_clear(&pr);
    }
}

static void test_problems_add_formats(void **state)
{
    (void)state;
    struct gw_problems pr = {0};
    gw_problems_add(&pr, "%s: %d is wrong", "a.b", 42);
    gw_problems_add(&pr, "plain");
    assert_int_equal(pr.n, 2);
    assert_string_equal(pr.items[0], "a.b: 42 is wrong");
    assert_string_equal(pr.items[1], "plain");
    gw_problems_clear(&pr);
    assert_int_equal(pr.n, 0);
    gw_problems_clear(&pr); /* clearing twice is harmless */
}

static void test_log_and_proxy_settings(void **state)
{
    (void)state;
    struct gw_config *cfg = load_ok(NULL);
    assert_int_equal(cfg->log_format, GW_LOG_TEXT);
    assert_int_equal(cfg->log_level, GW_LOG_INFO);
    assert_int_equal(cfg->n_trusted_proxies, 0);
    gw_config_free(cfg);
    cfg = load_ok("{\"log\":{\"format\":\"json\",\"level\":\"warn\"},"
                  "\"server\":{\"trusted_proxies\":[\"10.0.0.0/8\",\"::1\"]}}");
    assert_int_equal(cfg->log_format, GW_LOG_JSON);
    assert_int_equal(cfg->log_level, GW_LOG_WARN);
    assert_int_equal(cfg->n_trusted_proxies, 2);
    assert_string_equal(cfg->trusted_proxies[1], "::1");
    gw_config_free(cfg);
    struct gw_problems pr = {0};
    cfg = NULL;
    assert_int_equal(gw_config_load_text("{\"log\":{\"format\":\"logfmt\",\"level\":\"loud\"},"
                                         "\"server\":{\"trusted_proxies\":[\"10.0.0.0/40\"]}}",
                                         &cfg, &pr),
                     GW_ERR_CONFIG);
    assert_true(has_problem(&pr, "log.format"));
    assert_true(has_problem(&pr, "log.level"));
    assert_true(has_problem(&pr, "server.trusted_proxies[0]"));
    gw_problems_clear(&pr);
}

static void test_free_null(void **state)
{
    (void)state;
    gw_config_free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, env_clean, env_clean)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults_sla_table),
        T(test_defaults_values),
        T(test_defaults_from_load_without_file),
        T(test_priority_names),
        T(test_nested_override_keeps_siblings),
        T(test_file_overrides_defaults),
        T(test_environment_beats_file),
        T(test_environment_beats_text_and_defaults),
        T(test_bad_environment_is_reported),
        T(test_every_problem_reported),
        T(test_more_problems),
        T(test_stream_lease_longer_than_the_scan),
        T(test_bad_queue_and_keywords),
        T(test_custom_categories_replace_defaults),
        T(test_malformed_json_line_column),
        T(test_malformed_file_names_path_and_line),
        T(test_missing_file),
        T(test_duplicate_keys_rejected),
        T(test_file_must_be_object),
        T(test_listen_ipv6),
        T(test_listen_bad_values),
        T(test_problems_add_formats),
        T(test_log_and_proxy_settings),
        T(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
