/*
 * OAuth2 plumbing shared by the token store (oauth_token.c) and the
 * device-code set-up (mail_auth.c): where a provider's endpoints are, how an
 * "oauth" settings object is checked, secrets read from the environment or
 * a file, and one form POST answered in JSON. Endpoints must be https: an
 * http URL is taken only for a loopback host (a stand-in on this machine),
 * so a refresh token never crosses a network in clear text.
 */
#include "gw_oauth_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_oauth.h"

#define ANSWER_MAX     (64 * 1024)
#define SECRET_MAX     (16 * 1024)
#define POST_TIMEOUT_S 20L

static const char *const ms_authority = "https://login.microsoftonline.com";
static const char *const google_authority = "https://oauth2.googleapis.com";

/* https://..., or http:// to 127.0.0.0/8, ::1 or localhost. */
static bool url_allowed(const char *url)
{
    if (!strncmp(url, "https://", 8) && url[8])
        return true;
    if (strncmp(url, "http://", 7))
        return false;
    const char *host = url + 7;
    return !strncmp(host, "127.", 4) || !strncmp(host, "[::1]", 5) ||
           !strncmp(host, "localhost:", 10) || !strncmp(host, "localhost/", 10);
}

/* out = base + middle + path, checked. */
static bool build_url(char *out, const char *why_name, char *why, size_t why_len, const char *base,
                      const char *middle, const char *path)
{
    int n = snprintf(out, GW_OAUTH_URL_MAX, "%s%s%s", base, middle, path);
    if (n < 0 || n >= GW_OAUTH_URL_MAX) {
        snprintf(why, why_len, "%s: longer than %d characters", why_name, GW_OAUTH_URL_MAX - 1);
        return false;
    }
    if (!url_allowed(out)) {
        snprintf(why, why_len, "%s: must be https:// (http:// only to a loopback address)",
                 why_name);
        return false;
    }
    return true;
}

bool gw_oauth_endpoints(const char *provider, const char *tenant, const char *authority,
                        const char *token_url, const char *device_url,
                        struct gw_oauth_endpoints *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (!provider || !strcmp(provider, "custom")) {
        if (!token_url) {
            snprintf(why, why_len, "token_url: required for provider custom");
            return false;
        }
    } else if (!strcmp(provider, "microsoft")) {
        const char *base = authority ? authority : ms_authority;
        const char *t = tenant ? tenant : "common";
        if (strpbrk(t, "/?#") || !*t) {
            snprintf(why, why_len, "tenant: \"%s\" is not a tenant name or id", t);
            return false;
        }
        char at[GW_OAUTH_URL_MAX];
        snprintf(at, sizeof(at), "%s/%s", base, t);
        if (!token_url &&
            !build_url(out->token_url, "authority", why, why_len, at, "", "/oauth2/v2.0/token"))
            return false;
        if (!device_url && !build_url(out->device_url, "authority", why, why_len, at, "",
                                      "/oauth2/v2.0/devicecode"))
            return false;
    } else if (!strcmp(provider, "google")) {
        const char *base = authority ? authority : google_authority;
        if (!token_url && !build_url(out->token_url, "authority", why, why_len, base, "", "/token"))
            return false;
        if (!device_url &&
            !build_url(out->device_url, "authority", why, why_len, base, "", "/device/code"))
            return false;
    } else {
        snprintf(why, why_len, "provider: must be microsoft, google or custom");
        return false;
    }
    if (token_url && !build_url(out->token_url, "token_url", why, why_len, token_url, "", ""))
        return false;
    if (device_url && !build_url(out->device_url, "device_url", why, why_len, device_url, "", ""))
        return false;
    return true;
}

const char *gw_oauth_default_scope(const char *provider, bool sending)
{
    if (provider && !strcmp(provider, "microsoft"))
        return sending ? "https://outlook.office.com/SMTP.Send offline_access"
                       : "https://outlook.office.com/IMAP.AccessAsUser.All offline_access";
    if (provider && !strcmp(provider, "google"))
        return "https://mail.google.com/";
    return NULL;
}

const char *gw_oauth_default_mail_scope(const char *provider)
{
    if (provider && !strcmp(provider, "microsoft"))
        return "https://outlook.office.com/IMAP.AccessAsUser.All "
               "https://outlook.office.com/SMTP.Send offline_access";
    return gw_oauth_default_scope(provider, false);
}

static const char *str(const json_t *spec, const char *key)
{
    return json_string_value(json_object_get(spec, key));
}

void gw_oauth_check(const json_t *spec, const char *path, struct gw_problems *pr)
{
    if (!json_is_object(spec)) {
        gw_problems_add(pr, "%s: must be an object (provider, client_id, refresh_token_file ...)",
                        path);
        return;
    }
    static const char *const known[] = {"provider",
                                        "tenant",
                                        "authority",
                                        "token_url",
                                        "client_id",
                                        "client_secret_env",
                                        "client_secret_file",
                                        "refresh_token_env",
                                        "refresh_token_file",
                                        "scope",
                                        NULL};
    gw_problems_unknown_keys(pr, spec, known, path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v)
    {
        if (!json_is_string(v) || !json_string_length(v))
            gw_problems_add(pr, "%s.%s: must be a non-empty string", path, key);
    }
    if (!str(spec, "client_id"))
        gw_problems_add(pr, "%s.client_id: required", path);
    if (!str(spec, "refresh_token_env") == !str(spec, "refresh_token_file"))
        gw_problems_add(pr, "%s: give one of refresh_token_env or refresh_token_file", path);
    if (str(spec, "client_secret_env") && str(spec, "client_secret_file"))
        gw_problems_add(pr, "%s: give client_secret_env or client_secret_file, not both", path);
    struct gw_oauth_endpoints ep;
    char why[256];
    const char *provider = str(spec, "provider");
    if (!provider)
        gw_problems_add(pr, "%s.provider: required (microsoft, google or custom)", path);
    else if (!gw_oauth_endpoints(provider, str(spec, "tenant"), str(spec, "authority"),
                                 str(spec, "token_url"), NULL, &ep, why, sizeof(why)))
        gw_problems_add(pr, "%s.%s", path, why);
}

static char *first_line(const char *text)
{
    size_t n = strcspn(text, "\r\n");
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    return n ? strndup(text, n) : NULL;
}

char *gw_oauth_read_secret(const json_t *spec, const char *name, bool *absent, char *why,
                           size_t why_len)
{
    char key[64];
    snprintf(key, sizeof(key), "%s_env", name);
    const char *env = str(spec, key);
    snprintf(key, sizeof(key), "%s_file", name);
    const char *file = str(spec, key);
    *absent = !env && !file;
    if (env) {
        const char *value = getenv(env);
        char *secret = value ? first_line(value) : NULL;
        if (!secret)
            snprintf(why, why_len, "%s: the environment variable %s is not set", name, env);
        return secret;
    }
    if (!file)
        return NULL;
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(why, why_len, "%s: cannot read %s: %s", name, file, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SECRET_MAX + 1);
    size_t got = buf ? fread(buf, 1, SECRET_MAX, f) : 0;
    fclose(f);
    char *secret = NULL;
    if (buf) {
        buf[got] = '\0';
        secret = first_line(buf);
        free(buf);
    }
    if (!secret)
        snprintf(why, why_len, "%s: %s is empty", name, file);
    return secret;
}

bool gw_oauth_form_add(char **form, const char *key, const char *value)
{
    char *k = curl_easy_escape(NULL, key, 0), *v = curl_easy_escape(NULL, value, 0);
    size_t old = *form ? strlen(*form) : 0;
    char *grown = k && v ? realloc(*form, old + strlen(k) + strlen(v) + 3) : NULL;
    if (grown) {
        sprintf(grown + old, "%s%s=%s", old ? "&" : "", k, v);
        *form = grown;
    }
    curl_free(k);
    curl_free(v);
    return grown != NULL;
}

struct answer {
    char *data;
    size_t len;
    bool too_large;
};

static size_t collect(char *ptr, size_t size, size_t n, void *user)
{
    struct answer *a = user;
    size_t add = size * n;
    if (a->len + add > ANSWER_MAX) {
        a->too_large = true;
        return 0;
    }
    char *grown = realloc(a->data, a->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + a->len, ptr, add);
    a->data = grown;
    a->len += add;
    a->data[a->len] = '\0';
    return add;
}

enum gw_err gw_oauth_post(const char *url, const char *form, long *status, json_t **answer,
                          char *why, size_t why_len)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(why, why_len, "out of memory");
        return GW_ERR_NOMEM;
    }
    struct answer a = {0};
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, POST_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    CURLcode rc = curl_easy_perform(curl);
    enum gw_err err = GW_OK;
    if (rc != CURLE_OK) {
        /* curl's own words name the host and the failure, never the form. */
        snprintf(why, why_len, "%s", a.too_large ? "answer too large" : curl_easy_strerror(rc));
        err = GW_ERR_IO;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        json_t *doc = a.data ? json_loads(a.data, 0, NULL) : NULL;
        if (doc && !json_is_object(doc)) {
            json_decref(doc);
            doc = NULL;
        }
        *answer = doc;
    }
    free(a.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return err;
}

enum gw_err gw_oauth_store_secret(const char *path, const char *secret)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp)
        return GW_ERR_NOMEM;
    snprintf(tmp, n + 16, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    enum gw_err err = GW_ERR_IO;
    if (fd >= 0) {
        size_t len = strlen(secret);
        bool ok = write(fd, secret, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
                  fchmod(fd, 0600) == 0 && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (ok && rename(tmp, path) == 0)
            err = GW_OK;
        else
            unlink(tmp);
    }
    free(tmp);
    return err;
}
