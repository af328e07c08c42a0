#!/usr/bin/python3
"""An SMTP server for tests that insists on STARTTLS and AUTH, storing mail in a Maildir.

usage: smtp_tls_server.py PORT MAILDIR CERT KEY USER PASSWORD
Runs until SIGTERM. Built on Debian's aiosmtpd (the same server the plain tests use).
"""
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port, maildir, cert, key, user, password = sys.argv[1:7]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    # asyncio's STARTTLS upgrade loses the client's first command now and then when it
    # arrives with the end of a TLS 1.3 handshake; 1.2 keeps the test deterministic.
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port),
                            require_starttls=True, tls_context=ctx, auth_required=True,
                            auth_require_tls=True, authenticator=authenticator)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
