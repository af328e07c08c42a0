#!/usr/bin/python3
"""An SMTP server for tests that refuses some recipients the way real servers do.

usage: smtp_refusing_server.py PORT MAILDIR
A recipient whose local part starts with "refused" gets a 550 naming the address
and, as some servers do, the mailbox owner's name (from the local part); others'
mail is stored in the Maildir. Runs until SIGTERM or until the test that started it is gone. Built on Debian's aiosmtpd.
"""
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


class Refusing(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("refused"):
            owner = local.split(".", 1)[-1].replace(".", " ").title()
            return f"550 5.1.1 <{address}>: Recipient address rejected: no mailbox for {owner}"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def main():
    port, maildir = sys.argv[1:3]
    controller = Controller(Refusing(maildir), hostname="127.0.0.1", port=int(port))
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    # A test that failed half-way never stops us: go when it is gone.
    parent = os.getppid()
    while not done.wait(0.5):
        if os.getppid() != parent:
            break
    controller.stop()


if __name__ == "__main__":
    main()
