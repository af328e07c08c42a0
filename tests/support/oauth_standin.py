#!/usr/bin/python3
"""A loopback stand-in for an OAuth2 provider, for tests: the token endpoint
(refresh_token and device_code grants), the device authorization endpoint
(RFC 8628) and a token-introspection endpoint (RFC 7662) that dovecot's
oauth2 passdb and the test SMTP server ask whether an access token is good.

usage: oauth_standin.py PORT REFRESH_TOKEN USERNAME
Paths: POST .../token, POST .../devicecode or .../device/code, POST /introspect,
GET /control?KNOB=VALUE..., GET /stats. Knobs:
  lifetime=S        access tokens issued from now on live S seconds (default 3600)
  revoke=1|0        the refresh token is refused with invalid_grant (1) or good again (0)
  down=1|0          the token endpoint answers 503 (1) or works (0)
  garbage=KIND|0    the token endpoint answers 200 with something that is no token:
                    html (a sign-in page), truncated (JSON cut off), empty (an empty
                    token), array (JSON that is not an object); 0 works again
  expire_access=1   every access token issued so far stops being active
  refresh=TOKEN     the refresh token that is accepted from now on
  rotate=1|0        each refresh answers a new refresh token, and only the newest is good
  secret=VALUE      token requests must carry client_secret=VALUE
  device=a,b,c      answers to successive device-code polls: pending, slow_down,
                    denied, expired, ok (the last one repeats)
The token "inspector" is always active (the test's own IMAP look-ups).
Runs until SIGTERM.
"""
import json
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, refresh, username):
        self.lock = threading.Lock()
        self.refresh = refresh
        self.username = username
        self.lifetime = 3600
        self.revoked = False
        self.down = False
        self.garbage = None
        self.access = {}  # token -> expiry (epoch seconds)
        self.serial = 0
        self.device_script = ["ok"]
        self.rotate = False
        self.rotations = 0
        self.secret = None
        self.device_polls = []  # times of the device-code polls
        self.token_requests = []  # times of refresh requests
        self.refreshes_ok = 0
        self.introspections = 0


def answer(handler, status, doc):
    body = json.dumps(doc).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


GARBAGE = {
    "html": ("text/html", b"<html><body>Sign in to continue. at-leak-1</body></html>"),
    "truncated": ("application/json", b'{"access_token": "at-leak-2", "expires_in": 36'),
    "empty": ("application/json", b'{"access_token": "", "token_type": "Bearer"}'),
    "array": ("application/json", b'["at-leak-3"]'),
}


def garbage(handler, kind):
    """A 200 that carries no usable token (the text is never to reach a log)."""
    ctype, body = GARBAGE[kind]
    handler.send_response(200)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def issue(state):
    state.serial += 1
    token = "at-%d-%d" % (state.serial, int(time.time() * 1000))
    state.access[token] = time.time() + state.lifetime
    return token


def refresh_grant(state, form):
    state.token_requests.append(time.time())
    if state.down:
        return 503, {"error": "temporarily_unavailable"}
    if state.secret is not None and form.get("client_secret") != state.secret:
        return 401, {"error": "invalid_client"}
    if state.revoked or form.get("refresh_token") != state.refresh:
        return 400, {"error": "invalid_grant",
                     "error_description": "AADSTS70000: the grant was revoked for user@x"}
    state.refreshes_ok += 1
    answer = {"access_token": issue(state), "token_type": "Bearer", "expires_in": state.lifetime}
    if state.rotate:
        state.rotations += 1
        state.refresh = answer["refresh_token"] = "rt-rot-%d" % state.rotations
    return 200, answer


def device_grant(state, form):
    state.device_polls.append(time.time())
    if form.get("device_code") != "dev-code-1":
        return 400, {"error": "invalid_grant"}
    step = state.device_script.pop(0) if len(state.device_script) > 1 else state.device_script[0]
    errors = {"pending": "authorization_pending", "slow_down": "slow_down",
              "denied": "access_denied", "expired": "expired_token"}
    if step in errors:
        return 400, {"error": errors[step]}
    return 200, {"access_token": issue(state), "token_type": "Bearer",
                 "expires_in": state.lifetime, "refresh_token": state.refresh}


class Handler(BaseHTTPRequestHandler):
    state = None

    def log_message(self, *args):
        pass  # tokens travel in these requests: keep them out of any log

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode()
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}

    def do_POST(self):
        s = self.state
        form = self.form()
        path = self.path.split("?")[0]
        with s.lock:
            if path == "/introspect":
                s.introspections += 1
                token = form.get("token", "")
                alive = token == "inspector" or s.access.get(token, 0) > time.time()
                return answer(self, 200, {"active": "true" if alive else "false",
                                          "username": s.username})
            if path.endswith("/devicecode") or path.endswith("/device/code"):
                if form.get("client_id") != "client-1":
                    return answer(self, 400, {"error": "invalid_client"})
                return answer(self, 200, {
                    "device_code": "dev-code-1", "user_code": "WDJB-MJHT",
                    "verification_uri": "https://login.example/device",
                    "expires_in": 60, "interval": 1})
            if path.endswith("/token"):
                grant = form.get("grant_type", "")
                if s.garbage and grant == "refresh_token":
                    s.token_requests.append(time.time())
                    return garbage(self, s.garbage)
                if grant == "refresh_token":
                    return answer(self, *refresh_grant(s, form))
                if grant == "urn:ietf:params:oauth:grant-type:device_code":
                    return answer(self, *device_grant(s, form))
                return answer(self, 400, {"error": "unsupported_grant_type"})
        answer(self, 404, {"error": "no such endpoint"})

    def do_GET(self):
        s = self.state
        url = urllib.parse.urlparse(self.path)
        with s.lock:
            if url.path == "/control":
                for k, v in urllib.parse.parse_qsl(url.query):
                    if k == "lifetime":
                        s.lifetime = int(v)
                    elif k == "revoke":
                        s.revoked = v == "1"
                    elif k == "down":
                        s.down = v == "1"
                    elif k == "garbage":
                        s.garbage = v if v in GARBAGE else None
                    elif k == "expire_access":
                        s.access = {t: 0 for t in s.access}
                    elif k == "refresh":
                        s.refresh = v
                    elif k == "rotate":
                        s.rotate = v == "1"
                    elif k == "secret":
                        s.secret = v
                    elif k == "device":
                        s.device_script = v.split(",")
                return answer(self, 200, {"ok": True})
            if url.path == "/stats":
                now = time.time()
                return answer(self, 200, {
                    "token_requests": len(s.token_requests),
                    "token_request_ages": [now - t for t in s.token_requests],
                    "refreshes_ok": s.refreshes_ok,
                    "introspections": s.introspections,
                    "device_poll_gaps": [b - a for a, b in
                                         zip(s.device_polls, s.device_polls[1:])],
                    "device_polls": len(s.device_polls)})
        answer(self, 404, {"error": "no such endpoint"})


def main():
    port, refresh, username = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Handler.state = State(refresh, username)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
