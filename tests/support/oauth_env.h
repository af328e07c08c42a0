/*
 * OAuth2 mail tests' parts: the loopback stand-in for a provider
 * (oauth_standin.py: token, device-code and introspection endpoints, with
 * knobs), a dovecot that takes only XOAUTH2/OAUTHBEARER tokens the stand-in
 * says are active, and an SMTP server that does the same
 * (smtp_oauth_server.py). Every server started here is stopped by its stop
 * function, or at exit.
 */
#ifndef OAUTH_ENV_H
#define OAUTH_ENV_H

#include <sys/types.h>

#include "harness.h"

/* The user the stand-in's tokens belong to (the dovecot and SMTP login). */
#define OAUTH_USER    "agent"
#define OAUTH_REFRESH "rt-first-0123"

struct oauth_standin {
    pid_t pid;
    int port;
    char base[64]; /* http://127.0.0.1:PORT */
    char dir[128]; /* scratch folder (dovecot's oauth2 settings) */
};

void oauth_standin_start(struct oauth_standin *o);
void oauth_standin_stop(struct oauth_standin *o);
/* GET /control?query (e.g. "revoke=1&lifetime=2"). */
void oauth_standin_control(struct oauth_standin *o, const char *query);
/* A number from GET /stats ("token_requests", "refreshes_ok", "device_polls" ...). */
long oauth_standin_stat(struct oauth_standin *o, const char *name);
/* The stats' JSON text, malloc'd. */
char *oauth_standin_stats(struct oauth_standin *o);

/* dovecot accepting only bearer tokens the stand-in finds active, for OAUTH_USER. */
void oauth_imap_start(struct harness_imap *imap, struct oauth_standin *o);
/*
 * Closes every IMAP session of OAUTH_USER (doveadm kick), as a server does
 * when a token lapses: the next poll must log in again.
 */
void oauth_imap_kick(struct harness_imap *imap);
/* One IMAP command on INBOX, logged in by XOAUTH2 with the stand-in's "inspector" token. */
char *oauth_imap_command(struct harness_imap *imap, const char *command);

/* An SMTP server taking only XOAUTH2/OAUTHBEARER tokens the stand-in finds active. */
void oauth_smtp_start(struct harness_smtp *smtp, struct oauth_standin *o);

#endif
