/*
 * `intake mail-auth`: obtains the first refresh token of a mail account
 * with the OAuth2 device authorization grant (RFC 8628), the flow made for
 * a program without a browser: the operator opens a URL on any device,
 * types the code shown here, signs in and consents, while this command polls
 * the token endpoint at the interval the provider asks for (longer after
 * slow_down). The refresh token goes into a file created 0600 (--out), or to
 * standard output when asked (--print); never into a log or an error text.
 */
#include "gw_mail_auth.h"

#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "gw_oauth_http.h"

#define DEFAULT_INTERVAL_S 5
#define DEFAULT_EXPIRES_S  900
#define SLOW_DOWN_S        5 /* RFC 8628 section 3.5 */

struct options {
    const char *provider, *client_id, *secret_env, *secret_file, *tenant, *scope;
    const char *authority, *device_url, *token_url, *out;
    bool print;
};

static int usage(const char *why)
{
    if (why && *why)
        fprintf(stderr, "mail-auth: %s\n", why);
    fprintf(why ? stderr : stdout,
            "usage: intake mail-auth --provider microsoft|google|custom --client-id ID\n"
            "         [--tenant TENANT] [--scope SCOPE] [--client-secret-env VAR | "
            "--client-secret-file FILE]\n"
            "         [--authority URL] [--device-url URL --token-url URL]\n"
            "         --out FILE | --print\n");
    return why ? EX_USAGE : EX_OK;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct {
        const char *flag;
        size_t offset;
    } flags[] = {
        {"--provider", offsetof(struct options, provider)},
        {"--client-id", offsetof(struct options, client_id)},
        {"--client-secret-env", offsetof(struct options, secret_env)},
        {"--client-secret-file", offsetof(struct options, secret_file)},
        {"--tenant", offsetof(struct options, tenant)},
        {"--scope", offsetof(struct options, scope)},
        {"--authority", offsetof(struct options, authority)},
        {"--device-url", offsetof(struct options, device_url)},
        {"--token-url", offsetof(struct options, token_url)},
        {"--out", offsetof(struct options, out)},
    };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(NULL), -1;
        if (!strcmp(argv[i], "--print")) {
            o->print = true;
            continue;
        }
        size_t k = 0, n = sizeof(flags) / sizeof(flags[0]);
        while (k < n && strcmp(argv[i], flags[k].flag))
            k++;
        if (k == n)
            return fprintf(stderr, "mail-auth: unknown argument %s\n", argv[i]), usage("");
        if (i + 1 >= argc || !argv[i + 1][0])
            return fprintf(stderr, "mail-auth: %s needs a value\n", argv[i]), usage("");
        *(const char **)((char *)o + flags[k].offset) = argv[++i];
    }
    if (!o->provider || !o->client_id)
        return usage("--provider and --client-id are required");
    if (!o->out == !o->print)
        return usage("give --out FILE or --print");
    if (o->secret_env && o->secret_file)
        return usage("give --client-secret-env or --client-secret-file, not both");
    return EX_OK;
}

/* The folder of --out must take a new file before the operator signs in for nothing. */
static bool out_writable(const char *path)
{
    char *copy = strdup(path);
    bool ok = copy && access(dirname(copy), W_OK) == 0;
    free(copy);
    return ok;
}

static void sleep_s(int seconds)
{
    struct timespec ts = {seconds, 0};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long number(const json_t *o, const char *key, long fallback)
{
    const json_t *v = json_object_get(o, key);
    long n = json_is_integer(v)  ? (long)json_integer_value(v)
             : json_is_string(v) ? atol(json_string_value(v))
                                 : 0;
    return n > 0 ? n : fallback;
}

static int keep(const struct options *o, const char *refresh_token)
{
    if (o->print) {
        printf("%s\n", refresh_token);
        return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
    }
    if (gw_oauth_store_secret(o->out, refresh_token) != GW_OK) {
        fprintf(stderr, "mail-auth: cannot write %s\n", o->out);
        return EX_CANTCREAT;
    }
    fprintf(stderr,
            "mail-auth: refresh token stored in %s (mode 0600); name it in the account's "
            "\"oauth\": {\"refresh_token_file\": \"%s\"}\n",
            o->out, o->out);
    return EX_OK;
}

/* Polls the token endpoint until the operator signed in, declined, or the code expired. */
static int poll_token(const struct options *o, const char *token_url, const char *form,
                      long interval, long expires_in)
{
    time_t deadline = time(NULL) + expires_in;
    bool told_unreachable = false;
    while (time(NULL) < deadline) {
        sleep_s((int)interval);
        long status = 0;
        json_t *answer = NULL;
        char why[256];
        if (gw_oauth_post(token_url, form, &status, &answer, why, sizeof(why)) != GW_OK ||
            status >= 500 || !answer) {
            if (!told_unreachable)
                fprintf(stderr, "mail-auth: the token endpoint did not answer (%s); still trying\n",
                        status ? "a server error" : why);
            told_unreachable = true;
            json_decref(answer);
            continue;
        }
        const char *error = str(answer, "error");
        int rc = -1;
        if (status == 200 && str(answer, "refresh_token")) {
            rc = keep(o, str(answer, "refresh_token"));
        } else if (status == 200) {
            fprintf(stderr, "mail-auth: signed in, but no refresh token came back: ask for "
                            "offline access (Microsoft: add offline_access to --scope)\n");
            rc = EX_PROTOCOL;
        } else if (error && !strcmp(error, "authorization_pending")) {
            rc = -1;
        } else if (error && !strcmp(error, "slow_down")) {
            interval += SLOW_DOWN_S;
        } else if (error && !strcmp(error, "expired_token")) {
            fprintf(stderr, "mail-auth: the code expired before sign-in; run mail-auth again\n");
            rc = EX_TEMPFAIL;
        } else if (error && !strcmp(error, "access_denied")) {
            fprintf(stderr, "mail-auth: sign-in was declined; no token was stored\n");
            rc = EX_NOPERM;
        } else {
            fprintf(stderr, "mail-auth: the token endpoint refused: %.80s (HTTP %ld)\n",
                    error ? error : "no error code", status);
            rc = EX_UNAVAILABLE;
        }
        json_decref(answer);
        if (rc >= 0)
            return rc;
    }
    fprintf(stderr, "mail-auth: the code expired before sign-in; run mail-auth again\n");
    return EX_TEMPFAIL;
}

static int run(const struct options *o, const char *secret)
{
    struct gw_oauth_endpoints ep;
    char why[300];
    if (!gw_oauth_endpoints(o->provider, o->tenant, o->authority, o->token_url, o->device_url, &ep,
                            why, sizeof(why)))
        return usage(why);
    if (!ep.device_url[0])
        return usage("--device-url: required for provider custom");
    const char *scope = o->scope ? o->scope : gw_oauth_default_mail_scope(o->provider);
    char *form = NULL;
    bool ok = gw_oauth_form_add(&form, "client_id", o->client_id) &&
              (!scope || gw_oauth_form_add(&form, "scope", scope)) &&
              (!secret || gw_oauth_form_add(&form, "client_secret", secret));
    long status = 0;
    json_t *answer = NULL;
    if (!ok || gw_oauth_post(ep.device_url, form, &status, &answer, why, sizeof(why)) != GW_OK) {
        fprintf(stderr, "mail-auth: the device authorization endpoint did not answer: %s\n",
                ok ? why : "out of memory");
        free(form);
        return EX_UNAVAILABLE;
    }
    free(form);
    const char *device_code = str(answer, "device_code"), *user_code = str(answer, "user_code");
    /* RFC 8628 says verification_uri; Google answers verification_url. */
    const char *uri = str(answer, "verification_uri") ? str(answer, "verification_uri")
                                                      : str(answer, "verification_url");
    if (status != 200 || !device_code || !user_code || !uri) {
        fprintf(stderr, "mail-auth: the device authorization endpoint refused: %.80s (HTTP %ld)\n",
                str(answer, "error") ? str(answer, "error") : "no device code", status);
        json_decref(answer);
        return EX_UNAVAILABLE;
    }
    long interval = number(answer, "interval", DEFAULT_INTERVAL_S);
    long expires_in = number(answer, "expires_in", DEFAULT_EXPIRES_S);
    fprintf(stderr,
            "To let intake read and send this account's mail, open %s on any device and enter "
            "the code %s (valid %ld minutes).\nWaiting for the sign-in...\n",
            uri, user_code, (expires_in + 59) / 60);
    form = NULL;
    ok = gw_oauth_form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:device_code") &&
         gw_oauth_form_add(&form, "device_code", device_code) &&
         gw_oauth_form_add(&form, "client_id", o->client_id) &&
         (!secret || gw_oauth_form_add(&form, "client_secret", secret));
    json_decref(answer);
    int rc = ok ? poll_token(o, ep.token_url, form, interval, expires_in) : EX_OSERR;
    free(form);
    return rc;
}

int gw_mail_auth_main(int argc, char **argv)
{
    struct options o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc != EX_OK)
        return rc < 0 ? EX_OK : rc; /* -1: --help answered */
    if (o.out && !out_writable(o.out)) {
        fprintf(stderr, "mail-auth: cannot create a file in the folder of %s\n", o.out);
        return EX_CANTCREAT;
    }
    json_t *spec = json_pack("{s:s?, s:s?}", "client_secret_env", o.secret_env,
                             "client_secret_file", o.secret_file);
    bool absent = false;
    char why[300];
    char *secret = gw_oauth_read_secret(spec, "client_secret", &absent, why, sizeof(why));
    json_decref(spec);
    if (!secret && !absent) {
        fprintf(stderr, "mail-auth: %s\n", why);
        return EX_CONFIG;
    }
    rc = run(&o, secret);
    free(secret);
    return rc;
}
