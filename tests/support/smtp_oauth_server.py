#!/usr/bin/python3
"""An SMTP server for tests that takes only OAuth2 bearer tokens (SASL XOAUTH2
and OAUTHBEARER), asking the OAuth2 stand-in's introspection endpoint whether
a token is active, as Microsoft's and Google's servers check theirs. Mail goes
to a Maildir; a recipient at refused.example is refused at RCPT.

usage: smtp_oauth_server.py PORT MAILDIR INTROSPECTION_URL USER
Runs until SIGTERM. Built on Debian's aiosmtpd, like the other test servers.
"""
import base64
import json
import signal
import sys
import threading
import urllib.parse
import urllib.request

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult


def parse_xoauth2(blob):
    """user=U^Aauth=Bearer T^A^A -> (U, T)"""
    fields = dict(p.split("=", 1) for p in blob.split("\x01") if "=" in p)
    return fields.get("user"), fields.get("auth", "").removeprefix("Bearer ")


def parse_oauthbearer(blob):
    """n,a=U,^Ahost=...^Aauth=Bearer T^A^A -> (U, T)"""
    head, _, rest = blob.partition("\x01")
    user = next((p[2:] for p in head.split(",") if p.startswith("a=")), None)
    fields = dict(p.split("=", 1) for p in rest.split("\x01") if "=" in p)
    return user, fields.get("auth", "").removeprefix("Bearer ")


class OAuthMailbox(Mailbox):
    def __init__(self, maildir, introspect, user):
        super().__init__(maildir)
        self.introspect = introspect
        self.user = user

    def active(self, token):
        data = urllib.parse.urlencode({"token": token}).encode()
        with urllib.request.urlopen(self.introspect, data, timeout=5) as r:
            return json.load(r).get("active") == "true"

    async def check(self, server, args, parse):
        if len(args) > 1:
            blob = args[1]
        else:
            got = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(got, bytes):
                return AuthResult(success=False, handled=False)
            blob = base64.b64encode(got).decode()
        try:
            user, token = parse(base64.b64decode(blob).decode())
        except ValueError:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=user == self.user and self.active(token), handled=False)

    async def auth_XOAUTH2(self, server, args):
        return await self.check(server, args, parse_xoauth2)

    async def auth_OAUTHBEARER(self, server, args):
        return await self.check(server, args, parse_oauthbearer)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def main():
    port, maildir, introspect, user = sys.argv[1:5]
    handler = OAuthMailbox(maildir, introspect, user)
    controller = Controller(handler, hostname="127.0.0.1", port=int(port), auth_required=True,
                            auth_require_tls=False, auth_exclude_mechanism=["PLAIN", "LOGIN"])
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
