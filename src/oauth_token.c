/*
 * The OAuth2 token store: per mail account, the access token its refresh
 * token gives (RFC 6749 section 6), refreshed before it expires (a fifth of
 * its life ahead, at most five minutes) so that a poll never starts with a
 * token about to lapse, and once more when the mail server refused one. An
 * account's mutex is held across a refresh: the poller and the dispatcher
 * may share an account, and one refresh serves both. While the endpoint is
 * away, refreshes back off (1 s doubling to 5 min). The account's state
 * has a lock of its own, never held across the HTTP call, so that /readyz
 * and /metrics on the event loop never wait for a token endpoint. A refresh token the
 * endpoint refuses (invalid_grant: revoked or expired) is not sent again
 * until its source (file, environment) holds another one or the back-off cap
 * passed. Rotated refresh tokens (Microsoft's) are written back to their
 * file, so that a restart weeks later still holds a live one.
 */
#include "gw_oauth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_log.h"
#include "gw_oauth_http.h"

#define BACKOFF_FIRST_S   1.0
#define BACKOFF_MAX_S     300.0
#define REFRESH_AHEAD_MAX 300.0
#define DEFAULT_LIFE_S    3600.0
#define LABEL_MAX         256

enum trouble {
    TROUBLE_NONE,
    TROUBLE_REFUSED,     /* the refresh token was refused */
    TROUBLE_UNREACHABLE, /* the token endpoint does not answer usefully */
    TROUBLE_NO_SECRET,   /* the refresh token cannot be read */
    TROUBLE_SERVER,      /* the mail server refuses even a fresh access token */
};

static const char *const trouble_text[] = {
    [TROUBLE_REFUSED] = "refresh token refused",
    [TROUBLE_UNREACHABLE] = "token endpoint unreachable",
    [TROUBLE_NO_SECRET] = "refresh token unreadable",
    [TROUBLE_SERVER] = "mail server refuses the access token",
};

struct gw_oauth_account {
    struct gw_oauth_account *next;
    pthread_mutex_t refreshing; /* one caller at a time gets a token (held across the POST) */
    pthread_mutex_t lock;       /* the fields below; never held across I/O with the endpoint */
    char label[LABEL_MAX];
    json_t *spec; /* the settings object (a reference) */
    char *scope;  /* NULL: none asked for */
    char *access; /* current access token, or NULL */
    double refresh_at, expires_at;
    char *refresh;      /* the refresh token in use (possibly rotated) */
    char *source_value; /* what the file or environment held when last read or written */
    bool fresh;         /* access came from a refresh made after the server refused one */
    enum trouble trouble;
    char trouble_why[128]; /* the endpoint's error code or curl's words: no secrets */
    double next_try, backoff;
    unsigned long refreshes, refused, unreachable;
};

struct gw_oauth_store {
    pthread_mutex_t lock;
    struct gw_oauth_account *accounts;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct gw_oauth_store *gw_oauth_store_create(void)
{
    struct gw_oauth_store *s = calloc(1, sizeof(*s));
    if (s)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

void gw_oauth_store_destroy(struct gw_oauth_store *store)
{
    if (!store)
        return;
    for (struct gw_oauth_account *a = store->accounts, *next; a; a = next) {
        next = a->next;
        pthread_mutex_destroy(&a->lock);
        pthread_mutex_destroy(&a->refreshing);
        json_decref(a->spec);
        free(a->scope);
        free(a->access);
        free(a->refresh);
        free(a->source_value);
        free(a);
    }
    pthread_mutex_destroy(&store->lock);
    free(store);
}

struct gw_oauth_account *gw_oauth_account(struct gw_oauth_store *store, const json_t *spec,
                                          const char *label, bool sending)
{
    pthread_mutex_lock(&store->lock);
    struct gw_oauth_account *a = store->accounts;
    while (a && strcmp(a->label, label))
        a = a->next;
    if (!a && (a = calloc(1, sizeof(*a))) != NULL) {
        pthread_mutex_init(&a->lock, NULL);
        pthread_mutex_init(&a->refreshing, NULL);
        snprintf(a->label, sizeof(a->label), "%s", label);
        a->spec = json_incref((json_t *)spec);
        const char *scope = json_string_value(json_object_get(spec, "scope"));
        if (!scope)
            scope = gw_oauth_default_scope(json_string_value(json_object_get(spec, "provider")),
                                           sending);
        a->scope = scope ? strdup(scope) : NULL;
        a->next = store->accounts;
        store->accounts = a;
    }
    pthread_mutex_unlock(&store->lock);
    return a;
}

/* Enters a lasting condition: logged once, when it begins. */
static void begin_trouble(struct gw_oauth_account *a, enum trouble t, const char *why)
{
    bool again = a->trouble == t;
    a->trouble = t;
    snprintf(a->trouble_why, sizeof(a->trouble_why), "%s", why);
    if (again)
        return;
    if (t == TROUBLE_UNREACHABLE)
        gw_warn("oauth: %s: token endpoint unreachable (%s); retrying with back-off", a->label,
                why);
    else
        gw_error("oauth: %s: %s (%s); its mail stays unread on the server until a person runs "
                 "`intake mail-auth` or fixes the account",
                 a->label, trouble_text[t], why);
}

static void end_trouble(struct gw_oauth_account *a)
{
    if (a->trouble != TROUBLE_NONE)
        gw_info("oauth: %s: %s no more: access token accepted", a->label, trouble_text[a->trouble]);
    a->trouble = TROUBLE_NONE;
    a->trouble_why[0] = '\0';
    a->backoff = 0;
}

static void back_off(struct gw_oauth_account *a, double now)
{
    a->backoff = a->backoff ? a->backoff * 2 : BACKOFF_FIRST_S;
    if (a->backoff > BACKOFF_MAX_S)
        a->backoff = BACKOFF_MAX_S;
    a->next_try = now + a->backoff;
}

/* Takes up what the token's source holds now; true when it changed since last read. */
static bool read_source(struct gw_oauth_account *a, char *why, size_t why_len)
{
    bool absent = false;
    char *value = gw_oauth_read_secret(a->spec, "refresh_token", &absent, why, why_len);
    if (!value)
        return false;
    bool changed = !a->source_value || strcmp(a->source_value, value);
    if (changed) {
        free(a->source_value);
        a->source_value = value;
        free(a->refresh);
        a->refresh = strdup(value);
    } else {
        free(value);
    }
    return changed;
}

/* Rotation: the endpoint answered a new refresh token; keep it, in its file too. */
static void keep_rotated(struct gw_oauth_account *a, const char *rotated)
{
    if (!rotated || (a->refresh && !strcmp(a->refresh, rotated)))
        return;
    free(a->refresh);
    a->refresh = strdup(rotated);
    const char *file = json_string_value(json_object_get(a->spec, "refresh_token_file"));
    if (!file)
        return;
    if (gw_oauth_store_secret(file, rotated) != GW_OK) {
        gw_warn("oauth: %s: cannot write the renewed refresh token to %s; the old one is kept "
                "there",
                a->label, file);
        return;
    }
    free(a->source_value);
    a->source_value = strdup(rotated);
}

static char *refresh_form(const struct gw_oauth_account *a, const char *secret)
{
    char *form = NULL;
    const char *client = json_string_value(json_object_get(a->spec, "client_id"));
    bool ok = gw_oauth_form_add(&form, "grant_type", "refresh_token") &&
              gw_oauth_form_add(&form, "refresh_token", a->refresh) &&
              gw_oauth_form_add(&form, "client_id", client ? client : "") &&
              (!secret || gw_oauth_form_add(&form, "client_secret", secret)) &&
              (!a->scope || gw_oauth_form_add(&form, "scope", a->scope));
    if (!ok) {
        free(form);
        return NULL;
    }
    return form;
}

/* One refresh. Called with both locks held; lock is let go during the POST. */
static enum gw_err refresh(struct gw_oauth_account *a, double now)
{
    char why[160] = "";
    bool changed = read_source(a, why, sizeof(why));
    if (!a->refresh) {
        begin_trouble(a, TROUBLE_NO_SECRET, why);
        return GW_ERR_CONFIG;
    }
    /* A refused token is tried again when its source changed, or after the back-off. */
    if (now < a->next_try && !(a->trouble == TROUBLE_REFUSED && changed))
        return a->trouble == TROUBLE_REFUSED ? GW_ERR_FORBIDDEN : GW_ERR_IO;
    struct gw_oauth_endpoints ep;
    const json_t *s = a->spec;
#define S(k) json_string_value(json_object_get(s, k))
    if (!gw_oauth_endpoints(S("provider"), S("tenant"), S("authority"), S("token_url"), NULL, &ep,
                            why, sizeof(why))) {
        begin_trouble(a, TROUBLE_NO_SECRET, why);
        return GW_ERR_CONFIG;
    }
#undef S
    bool absent = false;
    char *secret = gw_oauth_read_secret(s, "client_secret", &absent, why, sizeof(why));
    if (!secret && !absent) {
        begin_trouble(a, TROUBLE_NO_SECRET, why);
        return GW_ERR_CONFIG;
    }
    char *form = refresh_form(a, secret);
    free(secret);
    if (!form)
        return GW_ERR_NOMEM;
    long status = 0;
    json_t *answer = NULL;
    pthread_mutex_unlock(&a->lock);
    enum gw_err err = gw_oauth_post(ep.token_url, form, &status, &answer, why, sizeof(why));
    pthread_mutex_lock(&a->lock);
    free(form);
    now = now_s();
    const char *token = json_string_value(json_object_get(answer, "access_token"));
    const char *error = json_string_value(json_object_get(answer, "error"));
    if (err == GW_OK && status == 200 && token && *token) {
        json_t *life = json_object_get(answer, "expires_in");
        double seconds = json_is_number(life)   ? json_number_value(life)
                         : json_is_string(life) ? atof(json_string_value(life))
                                                : DEFAULT_LIFE_S;
        if (seconds <= 0)
            seconds = DEFAULT_LIFE_S;
        double ahead = seconds / 5 < REFRESH_AHEAD_MAX ? seconds / 5 : REFRESH_AHEAD_MAX;
        free(a->access);
        a->access = strdup(token);
        a->expires_at = now + seconds;
        a->refresh_at = a->expires_at - ahead;
        a->refreshes++;
        keep_rotated(a, json_string_value(json_object_get(answer, "refresh_token")));
        if (a->trouble != TROUBLE_SERVER)
            end_trouble(a);
        a->next_try = 0;
        json_decref(answer);
        return a->access ? GW_OK : GW_ERR_NOMEM;
    }
    if (err == GW_OK && status >= 400 && status < 500 && status != 429 && error) {
        /* invalid_grant and its kin: a person must act; only the code, never the description. */
        snprintf(why, sizeof(why), "%.60s", error);
        a->refused++;
        begin_trouble(a, TROUBLE_REFUSED, why);
        a->backoff = BACKOFF_MAX_S;
        a->next_try = now + BACKOFF_MAX_S;
        err = GW_ERR_FORBIDDEN;
    } else {
        if (err == GW_OK)
            snprintf(why, sizeof(why), "HTTP %ld%s", status, token ? "" : ", no access token");
        a->unreachable++;
        if (a->trouble != TROUBLE_REFUSED)
            begin_trouble(a, TROUBLE_UNREACHABLE, why);
        back_off(a, now);
        err = GW_ERR_IO;
    }
    json_decref(answer);
    return err;
}

enum gw_err gw_oauth_token(struct gw_oauth_account *a, char **token, char *why, size_t why_len)
{
    pthread_mutex_lock(&a->refreshing);
    pthread_mutex_lock(&a->lock);
    double now = now_s();
    enum gw_err err = GW_OK;
    if (!a->access || now >= a->refresh_at) {
        err = refresh(a, now);
        /* A refresh ahead of time that failed leaves the old token good until it expires. */
        if (err != GW_OK && a->access && now < a->expires_at - 1)
            err = GW_OK;
    }
    char *copy = err == GW_OK ? strdup(a->access) : NULL;
    if (err == GW_OK && !copy)
        err = GW_ERR_NOMEM;
    if (err == GW_OK)
        *token = copy;
    else if (a->trouble != TROUBLE_NONE)
        snprintf(why, why_len, "%s: %s (%s)", a->label, trouble_text[a->trouble], a->trouble_why);
    else
        snprintf(why, why_len, "%s: %s", a->label, gw_strerror(err));
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&a->refreshing);
    return err;
}

void gw_oauth_report(struct gw_oauth_account *a, const char *token, bool accepted)
{
    pthread_mutex_lock(&a->lock);
    bool current = a->access && token && !strcmp(a->access, token);
    if (accepted) {
        if (current && a->trouble == TROUBLE_SERVER)
            end_trouble(a);
        a->fresh = false;
    } else if (current) {
        if (a->fresh) {
            /* A token made just now for this retry was refused too: the account is wrong. */
            begin_trouble(a, TROUBLE_SERVER, "AUTHENTICATE refused");
            back_off(a, now_s());
            a->fresh = false;
        } else {
            a->fresh = true;
        }
        free(a->access);
        a->access = NULL;
    }
    pthread_mutex_unlock(&a->lock);
}

char *gw_oauth_degraded(struct gw_oauth_store *store, struct gw_arena *arena)
{
    char *lines = NULL;
    pthread_mutex_lock(&store->lock);
    for (struct gw_oauth_account *a = store->accounts; a; a = a->next) {
        pthread_mutex_lock(&a->lock);
        if (a->trouble != TROUBLE_NONE)
            lines = gw_arena_printf(arena, "%s%s%s: %s (%s)", lines ? lines : "", lines ? "\n" : "",
                                    a->label, trouble_text[a->trouble], a->trouble_why);
        pthread_mutex_unlock(&a->lock);
    }
    pthread_mutex_unlock(&store->lock);
    return lines;
}

/* A Prometheus label value: backslash and double quote escaped, newlines dropped. */
static const char *label_value(struct gw_arena *arena, const char *s)
{
    char *out = gw_arena_alloc(arena, strlen(s) * 2 + 1), *o = out;
    for (; out && *s; s++) {
        if (*s == '\n')
            continue;
        if (*s == '\\' || *s == '"')
            *o++ = '\\';
        *o++ = *s;
    }
    if (out)
        *o = '\0';
    return out ? out : "";
}

char *gw_oauth_metrics(struct gw_oauth_store *store, struct gw_arena *arena)
{
    pthread_mutex_lock(&store->lock);
    char *text = gw_arena_strdup(arena, "");
    if (store->accounts)
        text = gw_arena_printf(
            arena,
            "# HELP intake_oauth_refreshes_total Access tokens obtained with a refresh token.\n"
            "# TYPE intake_oauth_refreshes_total counter\n"
            "# HELP intake_oauth_refresh_failures_total Refreshes that failed, by why: refused "
            "(the refresh token) or unreachable (the token endpoint).\n"
            "# TYPE intake_oauth_refresh_failures_total counter\n"
            "# HELP intake_oauth_account_trouble 1 while an account cannot authenticate "
            "(its mail waits on the server).\n"
            "# TYPE intake_oauth_account_trouble gauge\n");
    for (struct gw_oauth_account *a = store->accounts; a && text; a = a->next) {
        pthread_mutex_lock(&a->lock);
        const char *l = label_value(arena, a->label);
        text = gw_arena_printf(
            arena,
            "%sintake_oauth_refreshes_total{account=\"%s\"} %lu\n"
            "intake_oauth_refresh_failures_total{account=\"%s\",reason=\"refused\"} %lu\n"
            "intake_oauth_refresh_failures_total{account=\"%s\",reason=\"unreachable\"} %lu\n"
            "intake_oauth_account_trouble{account=\"%s\"} %d\n",
            text, l, a->refreshes, l, a->refused, l, a->unreachable, l, a->trouble != TROUBLE_NONE);
        pthread_mutex_unlock(&a->lock);
    }
    pthread_mutex_unlock(&store->lock);
    return text;
}
