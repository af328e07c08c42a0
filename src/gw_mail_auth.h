/*
 * `intake mail-auth`: the OAuth2 device-code flow that obtains a mail
 * account's first refresh token (mail_auth.c). It needs no configuration.
 */
#ifndef GW_MAIL_AUTH_H
#define GW_MAIL_AUTH_H

/* argv[0] is "mail-auth"; returns a sysexits code. */
int gw_mail_auth_main(int argc, char **argv);

#endif
