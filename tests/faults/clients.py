"""Load as real senders make it: each client thread takes the next contact and
sends it until it is acknowledged, always under the same idempotency key (the
API's external_id, a mail's Message-ID, a call's id and event, a chat
message's client_id), backing off on 503, 429, resets and refused
connections. What counts as acknowledged is what the sender is told: an
HTTP 2xx, the mail pipe's exit 0, a chat ack frame.

Every contact carries "fault contact <key>" in its text, so the checks find
it in the database whatever key it was stored under.
"""
import base64
import collections
import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import threading
import time
import urllib.parse


class Http:
    """One keep-alive connection, opened again after a reset or a
    Connection: close (a draining gateway's answer)."""

    def __init__(self, port, timeout=15):
        self.port, self.timeout, self.conn = port, timeout, None
        self.last = None  # the last answer: a status, "refused", "reset" or "no answer"

    def post(self, path, body, headers):
        """The status, or None when the connection failed (refused, reset, timeout)."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request("POST", path, body, headers)
            r = self.conn.getresponse()
            r.read()
            if (r.getheader("Connection") or "").lower() == "close":
                self.close()
            self.last = r.status
            return r.status
        except ConnectionRefusedError:
            self.close()
            self.last = "refused"
            return None
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            self.close()
            self.last = "reset"
            return None
        except (OSError, http.client.HTTPException):
            self.close()
            self.last = "no answer"
            return None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


class Load:
    """clients threads sending contacts 0, 1, 2 ... for seconds; a contact
    begun is retried until acknowledged or until give_up seconds after the
    load ended. send(i, http) answers True (acknowledged), False (retry) or
    raises (a refusal the driver did not expect: a 4xx other than 429)."""

    def __init__(self, send, clients, port_of):
        self.send, self.clients, self.port_of = send, clients, port_of
        self.lock = threading.Lock()
        self.next = 0
        self.acked = {}      # i -> time acknowledged
        self.attempts = []   # (start, end, ok)
        self.errors = []
        self.refusals = collections.Counter()  # what retried attempts got: 503, "no answer" ...
        self.stop_at = self.give_up_at = 0.0

    def run(self, seconds, give_up=60.0, pause=0.0, limit=None):
        """Starts the clients for seconds (or until limit contacts were
        begun); returns self (join with wait())."""
        self.limit, self.give_up = limit, give_up
        self.stop_at = time.time() + seconds
        self.give_up_at = self.stop_at + give_up
        self.pause = pause
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(self.clients)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        """No new contacts from now on; those begun are retried give_up more seconds."""
        self.stop_at = time.time()
        self.give_up_at = self.stop_at + self.give_up

    def wait(self):
        for t in self.threads:
            t.join()
        return self

    @property
    def attempted(self):
        return self.next

    def _client(self):
        conn = Http(self.port_of())
        while time.time() < self.stop_at:
            with self.lock:
                if self.limit is not None and self.next >= self.limit:
                    break
                i = self.next
                self.next += 1
            backoff = 0.05
            while True:
                if conn.port != self.port_of():
                    conn.close()
                    conn = Http(self.port_of())
                t0 = time.time()
                conn.last = None
                try:
                    ok = self.send(i, conn)
                except Exception as e:  # noqa: BLE001 - reported, the contact given up
                    with self.lock:
                        self.errors.append(f"contact {i}: {e}")
                    break
                t1 = time.time()
                with self.lock:
                    self.attempts.append((t0, t1, ok))
                    if ok:
                        self.acked[i] = t1
                    else:
                        self.refusals[conn.last or "no ack (not over HTTP)"] += 1
                if ok or t1 > self.give_up_at:
                    break
                time.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 1.0)
            if self.pause:
                time.sleep(self.pause)
        conn.close()

    def recovery(self, fault_end):
        """Seconds from fault_end until the first acknowledgement of a
        request sent after it (None: none came)."""
        firsts = [end for start, end, ok in self.attempts if ok and start >= fault_end]
        return min(firsts) - fault_end if firsts else None


def check_status(status, where):
    if status is None or status in (429, 503) or status >= 500:
        return False
    if 200 <= status < 300:
        return True
    raise RuntimeError(f"{where} answered {status}")


def marker(key):
    return f"fault contact {key}"


# --- the API channel -------------------------------------------------------

def api_sender(run, token, callback_url):
    def send(i, conn):
        key = f"{run}-{i}"
        body = json.dumps({
            "external_id": key,
            "customer": {"name": f"Fault {i}", "email": f"api-{run}-{i}@customer.example"},
            "subject": f"Order {i} late",
            "body": f"My order has not arrived. {marker(key)}",
            "callback_url": callback_url})
        status = conn.post("/v1/contacts", body, {"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        return check_status(status, "POST /v1/contacts")
    return send


# --- email: the provider route, the pipe, IMAP ------------------------------

def raw_mail(run, i, channel):
    key = f"{run}-{channel}-{i}"
    return (f"From: Customer {i} <{channel}-{run}-{i}@customer.example>\r\n"
            f"To: help@example.com\r\n"
            f"Subject: Printer {i} broken\r\n"
            f"Message-ID: <{key}@customer.example>\r\n"
            f"Date: Sun, 06 Dec 2026 08:00:00 +0000\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"The printer does not start. {marker(key)}\r\n").encode()


def email_http_sender(run, token):
    def send(i, conn):
        status = conn.post("/v1/email/inbound", raw_mail(run, i, "http"),
                           {"Authorization": f"Bearer {token}",
                            "Content-Type": "message/rfc822"})
        return check_status(status, "POST /v1/email/inbound")
    return send


class PipeSender:
    """`intake ingest-email` as an MTA's pipe runs it: exit 0 is delivered,
    75 (EX_TEMPFAIL) or death by a signal is tried again later, anything else
    bounces (an error here). kill_every: every n-th run is killed with
    SIGKILL after a random few milliseconds, a crash mid-message."""

    def __init__(self, run, binary, env, kill_every=0):
        self.run, self.binary, self.env, self.kill_every = run, binary, env, kill_every
        self.lock = threading.Lock()
        self.runs = self.killed = self.tempfails = 0

    def __call__(self, i, conn):
        with self.lock:
            self.runs += 1
            kill = self.kill_every and self.runs % self.kill_every == 0
        p = subprocess.Popen([self.binary, "ingest-email"], env=self.env, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kill:
            p.stdin.write(raw_mail(self.run, i, "pipe"))
            p.stdin.close()
            time.sleep(random.random() * 0.08)
            p.kill()
            p.wait()
            with self.lock:
                self.killed += p.returncode < 0
            return p.returncode == 0
        _, err = p.communicate(raw_mail(self.run, i, "pipe"))
        if p.returncode == 0:
            return True
        if p.returncode == 75 or p.returncode < 0:
            with self.lock:
                self.tempfails += 1
            return False
        raise RuntimeError(f"ingest-email exited {p.returncode}: {err.decode()[-200:]}")


# --- phone: Twilio, CTI, our own events --------------------------------------

TWILIO_TOKEN = "fault-twilio-token"
CTI_TOKEN = "fault-cti-token-0123456789"
HOOK_SECRET = "fault-hook-secret"
PUBLIC_URL = "https://help.example.com"


def caller(run_no, route, i):
    """A number of its own per call, so no two calls share a callback ticket."""
    return f"+86139{run_no % 100:02d}{'tcn'.index(route[0])}{i:05d}"


def twilio_sender(run, run_no):
    def send(i, conn):
        fields = {"CallSid": f"CA{run}{i}", "CallStatus": "no-answer", "Direction": "inbound",
                  "From": caller(run_no, "twilio", i), "To": "+861012345678",
                  "CallerName": f"Caller {i}"}
        url = PUBLIC_URL + "/v1/phone/twilio"
        signed = url + "".join(k + fields[k] for k in sorted(fields))
        sig = base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), signed.encode(),
                                        hashlib.sha1).digest()).decode()
        status = conn.post("/v1/phone/twilio", urllib.parse.urlencode(fields),
                           {"X-Twilio-Signature": sig,
                            "Content-Type": "application/x-www-form-urlencoded"})
        return check_status(status, "POST /v1/phone/twilio")
    return send


def cti_sender(run, run_no):
    def send(i, conn):
        form = urllib.parse.urlencode({"event": "hangup", "cause": "noAnswer", "direction": "in",
                                       "callId": f"{run}-cti-{i}",
                                       "from": caller(run_no, "cti", i), "to": "+861012345678"})
        status = conn.post(f"/v1/phone/cti/{CTI_TOKEN}", form,
                           {"Content-Type": "application/x-www-form-urlencoded"})
        return check_status(status, "POST /v1/phone/cti")
    return send


def native_sender(run, run_no):
    def send(i, conn):
        body = json.dumps({"event_id": f"{run}-native-{i}", "call_id": f"{run}-native-{i}",
                           "type": "missed", "from": caller(run_no, "native", i),
                           "to": "+861012345678", "cause": "noAnswer"})
        t = str(int(time.time()))
        sig = hmac.new(HOOK_SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
        status = conn.post("/v1/phone/events", body,
                           {"X-Intake-Signature": f"t={t},v1={sig}",
                            "Content-Type": "application/json"})
        return check_status(status, "POST /v1/phone/events")
    return send


def phone_call_id(route, run, i):
    return {"twilio": f"CA{run}{i}", "cti": f"{run}-cti-{i}", "native": f"{run}-native-{i}"}[route]


def pipe_env(binary_env_db_url):
    return dict(os.environ, INTAKE_DATABASE_URL=binary_env_db_url, INTAKE_CONFIG="")
