/*
 * The `intake` command: serve, migrate, check-config. Each command loads the
 * configuration the same way (--config FILE or INTAKE_CONFIG, then the
 * environment) and exits with a sysexits-style code a supervisor can act on.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "gw_channel.h"
#include "gw_config.h"
#include "gw_db.h"
#include "gw_intake.h"
#include "gw_log.h"
#include "gw_mail_auth.h"
#include "gw_outbox.h"
#include "gw_poller.h"
#include "gw_schema.h"
#include "gw_server.h"
#include "gw_spool.h"
#include "gw_tls.h"

#define DRAIN_SECONDS 10

static void usage(FILE *out)
{
    fprintf(out, "usage: intake [--config FILE] COMMAND | --version\n\n"
                 "commands:\n"
                 "  serve          run the gateway (HTTP on the configured listen address)\n"
                 "  migrate        apply database migrations from db/ that are not applied yet\n"
                 "  check-config   report every problem in the configuration, then exit\n"
                 "  defaults       print the built-in configuration as JSON\n"
                 "  mail-auth      obtain a mail account's OAuth2 refresh token (device code)\n");
    for (const struct gw_channel *const *c = gw_channels; *c; c++)
        for (size_t i = 0; i < (*c)->n_commands; i++)
            fprintf(out, "  %-14s %s\n", (*c)->commands[i].name, (*c)->commands[i].summary);
    fprintf(out, "\n"
                 "environment: INTAKE_CONFIG, INTAKE_DATABASE_URL, INTAKE_LISTEN,\n"
                 "             INTAKE_PUBLIC_URL, INTAKE_API_TOKEN\n");
}

static int load_config(const char *path, struct gw_config **cfg)
{
    struct gw_problems problems = {0};
    if (gw_config_load(path, cfg, &problems) == GW_OK)
        return 1;
    for (size_t i = 0; i < problems.n; i++)
        fprintf(stderr, "config: %s\n", problems.items[i]);
    gw_problems_clear(&problems);
    return 0;
}

/* "password_env", "refresh_token_file": where a secret is, not the secret. */
static bool names_a_place(const char *key)
{
    size_t n = strlen(key);
    return (n > 4 && !strcmp(key + n - 4, "_env")) || (n > 5 && !strcmp(key + n - 5, "_file"));
}

/* Whether a JSON value holds a secret: a non-empty string under a key that names one. */
static bool holds_secret(const json_t *v, const char *key)
{
    if (json_is_string(v))
        return key && *json_string_value(v) && !names_a_place(key) &&
               (strstr(key, "token") || strstr(key, "password") || strstr(key, "secret"));
    const char *k;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, child)
        {
            if (holds_secret(child, k))
                return true;
        }
    }
    json_array_foreach(v, i, child)
    {
        if (holds_secret(child, key))
            return true;
    }
    return false;
}

/*
 * A configuration file that holds secrets (tokens, passwords, webhook
 * secrets) should be readable by its owner alone: say so, naming the file,
 * not the secret. Environment variables are the other way to give them.
 */
static void warn_readable_secrets(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0 || !(st.st_mode & (S_IRGRP | S_IROTH)))
        return;
    json_t *root = json_load_file(path, 0, NULL);
    if (root && holds_secret(root, NULL))
        fprintf(stderr,
                "config: warning: %s holds secrets and others can read it (mode %03o): "
                "chmod 600 it, or give the secrets through the environment\n",
                path, (unsigned)(st.st_mode & 0777));
    json_decref(root);
}

static void warn_config(const char *line)
{
    fprintf(stderr, "config: warning: %s\n", line);
}

static void warn_log(const char *line)
{
    gw_warn("serve: %s", line);
}

/* The tls settings' files (gw_tls.h): each problem on stderr; 0 when there was one. */
static int tls_usable(const struct gw_config *cfg, void (*warn)(const char *line))
{
    struct gw_problems problems = {0};
    gw_tls_check_config(cfg, &problems, warn);
    for (size_t i = 0; i < problems.n; i++)
        fprintf(stderr, "config: %s\n", problems.items[i]);
    int ok = problems.n == 0;
    gw_problems_clear(&problems);
    return ok;
}

static int cmd_check_config(const char *path)
{
    struct gw_config *cfg = NULL;
    if (!load_config(path, &cfg))
        return EX_CONFIG;
    warn_readable_secrets(path);
    int ok = tls_usable(cfg, warn_config);
    if (!cfg->api_token) {
        fprintf(stderr, "config: api_token: required to serve (or set INTAKE_API_TOKEN)\n");
        ok = 0;
    } else if (strlen(cfg->api_token) < 16) {
        fprintf(stderr, "config: api_token: use at least 16 characters\n");
        ok = 0;
    }
    if (ok)
        printf("configuration OK: listen %s:%d (%s), %zu categories, %d database workers\n",
               cfg->listen_host, cfg->listen_port, cfg->tls_cert_file ? "https" : "http",
               cfg->n_categories, cfg->db_workers);
    gw_config_free(cfg);
    return ok ? EX_OK : EX_CONFIG;
}

static int cmd_migrate(const struct gw_config *cfg)
{
    PGconn *conn = NULL;
    if (gw_db_connect(cfg->database_url, "intake-migrate", &conn) != GW_OK) {
        fprintf(stderr, "migrate: cannot connect to the database\n");
        return EX_TEMPFAIL;
    }
    int applied = 0;
    enum gw_err err = gw_db_migrate(conn, &applied);
    if (err == GW_OK)
        err = gw_db_sync_queues(conn, cfg);
    PQfinish(conn);
    if (err != GW_OK) {
        fprintf(stderr, "migrate: %s\n", gw_strerror(err));
        return err == GW_ERR_DB_UNAVAILABLE ? EX_TEMPFAIL : EX_SOFTWARE;
    }
    printf("migrate: %d applied, schema at version %d\n", applied, gw_db_latest_version());
    return EX_OK;
}

/*
 * A database behind the binary's schema would fail every registration with
 * a confusing error: say so at start-up. An unreachable database is fine
 * (readyz reports it and contacts get 503 until it is back).
 */
static int schema_ready(const struct gw_config *cfg)
{
    PGconn *conn = NULL;
    if (gw_db_connect(cfg->database_url, "intake-serve", &conn) != GW_OK)
        return 1;
    int version = 0;
    bool functions_current = false;
    enum gw_err err = gw_db_schema_version(conn, &version, &functions_current);
    PQfinish(conn);
    if (err == GW_OK && version < gw_db_latest_version()) {
        fprintf(stderr,
                "serve: the database schema is at version %d, this binary needs %d: run "
                "`intake migrate`\n",
                version, gw_db_latest_version());
        return 0;
    }
    /*
     * Only a warning: during a rolling upgrade the gateways of the older
     * release still start against the newer functions, which keep taking
     * what they send.
     */
    if (err == GW_OK && !functions_current)
        gw_warn("serve: the database's functions are not this binary's; if this binary is the "
                "newer one, run `intake migrate`");
    return 1;
}

static int cmd_serve(const struct gw_config *cfg)
{
    if (!cfg->api_token || strlen(cfg->api_token) < 16) {
        fprintf(stderr, "serve: set api_token (16+ characters) or INTAKE_API_TOKEN\n");
        return EX_CONFIG;
    }
    if (!tls_usable(cfg, warn_log))
        return EX_CONFIG;
    if (!schema_ready(cfg))
        return EX_CONFIG;
    /* Before the port: a second gateway on the same spool directory must not start at all. */
    struct gw_spool *spool = NULL;
    enum gw_err spool_err = gw_spool_open(cfg, &spool);
    if (spool_err != GW_OK)
        return spool_err == GW_ERR_BUSY ? EX_UNAVAILABLE : EX_CANTCREAT;
    struct gw_server *srv = NULL;
    if (gw_server_create(cfg, &srv) != GW_OK) {
        gw_spool_close(spool);
        return EX_UNAVAILABLE;
    }
    gw_server_set_spool(srv, spool);
    struct gw_outbox *outbox = NULL;
    if (gw_outbox_start(cfg, &outbox) != GW_OK) {
        gw_server_destroy(srv);
        gw_spool_close(spool);
        return EX_OSERR;
    }
    gw_intake_set_commit_hook(gw_server_intake(srv), gw_outbox_kick, outbox);
    struct gw_poller *poller = NULL;
    if (gw_poller_start(cfg, &poller) != GW_OK)
        gw_error("serve: the poller did not start; polled sources are not read");
    struct gw_spool_replayer *replayer = NULL;
    if (gw_spool_replayer_start(cfg, spool, gw_outbox_kick, outbox, &replayer) != GW_OK)
        gw_error("serve: the spool's replayer did not start; spooled contacts wait for a restart");
    gw_server_run(srv, DRAIN_SECONDS);
    gw_poller_stop(poller);
    gw_server_destroy(srv); /* its workers append to the spool: stopped before the replayer */
    gw_spool_replayer_stop(replayer);
    gw_spool_close(spool);
    gw_outbox_stop(outbox);
    return EX_OK;
}

int main(int argc, char **argv)
{
    const char *config_path = getenv("INTAKE_CONFIG");
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[++i];
        else if (!strcmp(argv[i], "--version")) {
            printf("intake %s (database schema %d)\n", INTAKE_VERSION_STRING,
                   gw_db_latest_version());
            return EX_OK;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return EX_OK;
        } else {
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    const char *cmd = argv[i];
    if (config_path && !*config_path)
        config_path = NULL;
    if (!strcmp(cmd, "check-config"))
        return cmd_check_config(config_path);
    if (!strcmp(cmd, "defaults")) {
        fputs(gw_config_defaults, stdout);
        return EX_OK;
    }
    if (!strcmp(cmd, "mail-auth")) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = gw_mail_auth_main(argc - i, argv + i);
        curl_global_cleanup();
        return rc;
    }
    const struct gw_command *channel_cmd = NULL;
    for (const struct gw_channel *const *c = gw_channels; *c && !channel_cmd; c++)
        for (size_t k = 0; k < (*c)->n_commands; k++)
            if (!strcmp((*c)->commands[k].name, cmd))
                channel_cmd = &(*c)->commands[k];
    if (strcmp(cmd, "serve") && strcmp(cmd, "migrate") && !channel_cmd) {
        fprintf(stderr, "intake: unknown command \"%s\"\n", cmd);
        usage(stderr);
        return EX_USAGE;
    }
    if (gw_channels_init() != GW_OK) {
        fprintf(stderr, "intake: a channel failed to initialize\n");
        return EX_SOFTWARE;
    }
    struct gw_config *cfg = NULL;
    if (!load_config(config_path, &cfg))
        return EX_CONFIG;
    gw_log_set_format((enum gw_log_format)cfg->log_format);
    gw_log_set_level((enum gw_log_level)cfg->log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = channel_cmd               ? channel_cmd->run(argc - i, argv + i, cfg)
             : !strcmp(cmd, "migrate") ? cmd_migrate(cfg)
                                       : cmd_serve(cfg);
    curl_global_cleanup();
    gw_config_free(cfg);
    return rc;
}
