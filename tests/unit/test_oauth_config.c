/*
 * OAuth2 mail settings: an xoauth2 account needs its "oauth" object, that
 * object needs a provider, a client id and exactly one refresh-token source,
 * unknown keys are typos, and a token endpoint is https (http only to a
 * loopback address); a good one loads, and its store answers /readyz and
 * /metrics with nothing to say before the first use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_config.h"
#include "gw_oauth.h"

/* Loads text; returns the problems joined by "|" (malloc'd), or NULL when it loaded. */
static char *problems_of(const char *text)
{
    struct gw_config *cfg = NULL;
    struct gw_problems pr = {0};
    if (gw_config_load_text(text, &cfg, &pr) == GW_OK) {
        gw_config_free(cfg);
        return NULL;
    }
    size_t n = 1;
    for (size_t i = 0; i < pr.n; i++)
        n += strlen(pr.items[i]) + 1;
    char *all = calloc(1, n);
    for (size_t i = 0; i < pr.n; i++) {
        strcat(all, pr.items[i]);
        strcat(all, "|");
    }
    gw_problems_clear(&pr);
    return all;
}

#define MAILBOX(auth)                                                                              \
    "{\"channels\":{\"email\":{\"imap\":{\"mailboxes\":[{\"url\":\"imaps://outlook.office365."     \
    "com/INBOX\",\"user\":\"help@contoso.com\"," auth "}]}}}}"

static void test_xoauth2_needs_its_account(void **state)
{
    (void)state;
    char *p = problems_of(MAILBOX("\"auth\":\"xoauth2\""));
    assert_non_null(p);
    assert_non_null(strstr(p, "mailboxes[0].oauth: required when auth is xoauth2"));
    free(p);
    p = problems_of("{\"smtp\":{\"url\":\"smtp://smtp.office365.com:587\",\"auth\":\"xoauth2\"}}");
    assert_non_null(p);
    assert_non_null(strstr(p, "smtp.oauth: required when smtp.auth is xoauth2"));
    assert_non_null(strstr(p, "smtp.user: required"));
    free(p);
    p = problems_of(MAILBOX("\"auth\":\"kerberos\""));
    assert_non_null(strstr(p, "auth: must be password or xoauth2"));
    free(p);
}

static void test_account_settings_are_checked(void **state)
{
    (void)state;
    char *p = problems_of(MAILBOX(
        "\"auth\":\"xoauth2\",\"oauth\":{\"provider\":\"yahoo\",\"refresh_token_env\":\"A\","
        "\"refresh_token_file\":\"/f\",\"client_secrte_env\":\"S\"}"));
    assert_non_null(p);
    assert_non_null(strstr(p, "oauth.client_id: required"));
    assert_non_null(strstr(p, "give one of refresh_token_env or refresh_token_file"));
    assert_non_null(strstr(p, "oauth.client_secrte_env: unknown setting"));
    assert_non_null(strstr(p, "oauth.provider: must be microsoft, google or custom"));
    free(p);
    p = problems_of(MAILBOX("\"auth\":\"xoauth2\",\"oauth\":{\"provider\":\"custom\","
                            "\"client_id\":\"c\",\"refresh_token_env\":\"A\"}"));
    assert_non_null(strstr(p, "token_url: required for provider custom"));
    free(p);
    p = problems_of(MAILBOX("\"auth\":\"xoauth2\",\"oauth\":{\"provider\":\"microsoft\","
                            "\"authority\":\"http://login.example\",\"client_id\":\"c\","
                            "\"refresh_token_env\":\"A\"}"));
    assert_non_null(strstr(p, "authority: must be https://"));
    free(p);
}

static void test_good_accounts_load(void **state)
{
    (void)state;
    assert_null(problems_of(
        MAILBOX("\"auth\":\"xoauth2\",\"oauth\":{\"provider\":\"microsoft\",\"tenant\":\"contoso\","
                "\"client_id\":\"c\",\"refresh_token_file\":\"/etc/intake/imap.token\"}")));
    assert_null(problems_of(
        "{\"smtp\":{\"url\":\"smtp://smtp.gmail.com:587\",\"user\":\"help@example.com\","
        "\"auth\":\"xoauth2\",\"oauth\":{\"provider\":\"google\",\"client_id\":\"c\","
        "\"client_secret_env\":\"S\",\"refresh_token_env\":\"R\"}}}"));
    assert_null(problems_of(
        "{\"smtp\":{\"url\":\"smtp://127.0.0.1:25\",\"user\":\"u\",\"auth\":\"xoauth2\","
        "\"oauth\":{\"provider\":\"custom\",\"token_url\":\"http://127.0.0.1:8000/token\","
        "\"client_id\":\"c\",\"refresh_token_env\":\"R\"}}}"));
    struct gw_config *cfg = NULL;
    struct gw_problems pr = {0};
    assert_int_equal(gw_config_load_text(NULL, &cfg, &pr), GW_OK);
    struct gw_arena *arena = gw_arena_create(1024);
    assert_null(gw_oauth_degraded(cfg->oauth, arena));
    assert_string_equal(gw_oauth_metrics(cfg->oauth, arena), "");
    gw_arena_destroy(arena);
    gw_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xoauth2_needs_its_account),
        cmocka_unit_test(test_account_settings_are_checked),
        cmocka_unit_test(test_good_accounts_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
