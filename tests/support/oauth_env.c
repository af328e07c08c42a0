/*
 * OAuth2 mail tests' servers (oauth_env.h): processes started with the
 * harness's spawn and dovecot configured through its IMAP starter, with
 * dovecot's oauth2 passdb asking the stand-in's introspection endpoint
 * (introspection_mode = post) whether a token is active.
 */
#include "oauth_env.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

void oauth_standin_start(struct oauth_standin *o)
{
    o->port = harness_free_port();
    snprintf(o->base, sizeof(o->base), "http://127.0.0.1:%d", o->port);
    snprintf(o->dir, sizeof(o->dir), "/tmp/intake-oauth-%d-%d", (int)getpid(), o->port);
    if (mkdir(o->dir, 0755) != 0)
        fail_msg("cannot make %s", o->dir);
    char script[256], port[16];
    snprintf(script, sizeof(script), "%s/tests/support/oauth_standin.py", INTAKE_SOURCE_DIR);
    snprintf(port, sizeof(port), "%d", o->port);
    char *argv[] = {(char *)"/usr/bin/python3", script, port, (char *)OAUTH_REFRESH,
                    (char *)OAUTH_USER,         NULL};
    o->pid = harness_spawn(argv, "/dev/null");
    harness_wait_for_port(o->port, "the OAuth2 stand-in");
}

void oauth_standin_stop(struct oauth_standin *o)
{
    if (o->pid > 0) {
        kill(o->pid, SIGTERM);
        waitpid(o->pid, NULL, 0);
        o->pid = 0;
    }
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", o->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", o->dir);
}

static char *get(struct oauth_standin *o, const char *path)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", o->base, path);
    struct harness_response r;
    harness_http("GET", url, NULL, NULL, NULL, 0, &r);
    if (r.status != 200)
        fail_msg("stand-in %s: HTTP %ld", path, r.status);
    return r.body;
}

void oauth_standin_control(struct oauth_standin *o, const char *query)
{
    char path[300];
    snprintf(path, sizeof(path), "/control?%s", query);
    free(get(o, path));
}

char *oauth_standin_stats(struct oauth_standin *o)
{
    return get(o, "/stats");
}

long oauth_standin_stat(struct oauth_standin *o, const char *name)
{
    char *text = oauth_standin_stats(o);
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    json_t *v = json_object_get(doc, name);
    if (!json_is_integer(v))
        fail_msg("stand-in stats: no %s", name);
    long n = (long)json_integer_value(v);
    json_decref(doc);
    return n;
}

void oauth_imap_start(struct harness_imap *imap, struct oauth_standin *o)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/dovecot-oauth2.conf.ext", o->dir);
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s", path);
    fprintf(f,
            "introspection_mode = post\nintrospection_url = %s/introspect\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            "force_introspection = yes\n",
            o->base);
    fclose(f);
    char conf[600];
    snprintf(conf, sizeof(conf),
             "auth_mechanisms = xoauth2 oauthbearer\nauth_failure_delay = 0\n"
             "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s\n}",
             path);
    harness_imap_start_auth(imap, conf);
}

void oauth_imap_kick(struct harness_imap *imap)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "doveadm -c %s/dovecot.conf kick " OAUTH_USER " >/dev/null 2>&1",
             imap->dir);
    if (system(cmd) != 0)
        fail_msg("doveadm kick failed");
}

char *oauth_imap_command(struct harness_imap *imap, const char *command)
{
    return harness_imap_command_bearer(imap, "inspector", command);
}

void oauth_smtp_start(struct harness_smtp *smtp, struct oauth_standin *o)
{
    smtp->port = harness_free_port();
    snprintf(smtp->dir, sizeof(smtp->dir), "/tmp/intake-smtpo-%d-%d", (int)getpid(), smtp->port);
    char script[256], port[16], introspect[128];
    snprintf(script, sizeof(script), "%s/tests/support/smtp_oauth_server.py", INTAKE_SOURCE_DIR);
    snprintf(port, sizeof(port), "%d", smtp->port);
    snprintf(introspect, sizeof(introspect), "%s/introspect", o->base);
    char *argv[] = {(char *)"/usr/bin/python3", script, port, smtp->dir, introspect,
                    (char *)OAUTH_USER,         NULL};
    smtp->pid = harness_spawn(argv, "/dev/null");
    harness_wait_for_port(smtp->port, "the OAuth2 SMTP server");
}
