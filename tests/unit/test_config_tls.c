/*
 * The "tls" settings as the loader reads them: off by default, the two paths
 * together or not at all, the environment over the file, and no unknown
 * member. Whether the files are usable is test_tls's (integration): loading
 * never opens them, so `intake migrate` does not need the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_config.h"

static int env_clean(void **state)
{
    (void)state;
    unsetenv("INTAKE_TLS_CERT_FILE");
    unsetenv("INTAKE_TLS_KEY_FILE");
    return 0;
}

/* Loads text; returns the config (or NULL) and the problems joined by newlines in said. */
static struct gw_config *load(const char *text, char *said, size_t cap)
{
    struct gw_problems pr = {0};
    struct gw_config *cfg = NULL;
    if (gw_config_load_text(text, &cfg, &pr) != GW_OK)
        cfg = NULL;
    said[0] = '\0';
    for (size_t i = 0; i < pr.n; i++) {
        strncat(said, pr.items[i], cap - strlen(said) - 2);
        strcat(said, "\n");
    }
    gw_problems_clear(&pr);
    return cfg;
}

static void test_off_by_default(void **state)
{
    (void)state;
    char said[512];
    struct gw_config *cfg = load(NULL, said, sizeof(said));
    assert_non_null(cfg);
    assert_null(cfg->tls_cert_file);
    assert_null(cfg->tls_key_file);
    gw_config_free(cfg);
}

static void test_both_paths_are_read_and_never_opened(void **state)
{
    (void)state;
    char said[512];
    struct gw_config *cfg = load("{\"tls\":{\"cert_file\":\"/nowhere/cert.pem\","
                                 "\"key_file\":\"/nowhere/key.pem\"}}",
                                 said, sizeof(said));
    assert_non_null(cfg);
    assert_string_equal(cfg->tls_cert_file, "/nowhere/cert.pem");
    assert_string_equal(cfg->tls_key_file, "/nowhere/key.pem");
    gw_config_free(cfg);
}

static void test_one_without_the_other_is_refused(void **state)
{
    (void)state;
    char said[512];
    assert_null(load("{\"tls\":{\"cert_file\":\"/etc/c.pem\"}}", said, sizeof(said)));
    assert_string_equal(said, "tls.key_file: required when tls.cert_file is set\n");
    assert_null(load("{\"tls\":{\"key_file\":\"/etc/k.pem\"}}", said, sizeof(said)));
    assert_string_equal(said, "tls.cert_file: required when tls.key_file is set\n");
    assert_null(
        load("{\"tls\":{\"cert_file\":\"/etc/c.pem\",\"key_file\":7}}", said, sizeof(said)));
    assert_string_equal(said, "tls.key_file: must be a non-empty string\n");
    assert_null(
        load("{\"tls\":{\"cert_file\":\"\",\"key_file\":\"/etc/k.pem\"}}", said, sizeof(said)));
    assert_non_null(strstr(said, "tls.cert_file: must be a non-empty string"));
    assert_null(load("{\"tls\":{\"cert\":\"/etc/c.pem\"}}", said, sizeof(said)));
    assert_string_equal(said, "tls.cert: unknown setting\n");
}

static void test_environment_gives_the_pair(void **state)
{
    (void)state;
    setenv("INTAKE_TLS_CERT_FILE", "/run/c.pem", 1);
    setenv("INTAKE_TLS_KEY_FILE", "/run/k.pem", 1);
    char said[512];
    struct gw_config *cfg =
        load("{\"tls\":{\"cert_file\":\"/etc/c.pem\",\"key_file\":null}}", said, sizeof(said));
    assert_non_null(cfg);
    assert_string_equal(cfg->tls_cert_file, "/run/c.pem");
    assert_string_equal(cfg->tls_key_file, "/run/k.pem");
    gw_config_free(cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, env_clean, env_clean)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_off_by_default),
        T(test_both_paths_are_read_and_never_opened),
        T(test_one_without_the_other_is_refused),
        T(test_environment_gives_the_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
