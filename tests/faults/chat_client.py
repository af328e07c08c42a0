"""Chat customers for the fault suite, as the widget behaves (docs/chat.md):
a session's token kept, a message resent under the same client_id after a
drop until its ack frame comes, and on every reconnect a hello with the token
and the last seq seen, so the gateway sends exactly the events after it.
Debian's python3-websocket (websocket-client) speaks the protocol.
"""
import json
import threading

import websocket

import clients

PROTOCOL = "intake-chat.v1"


class Conversations:
    def __init__(self, run, port_of, api_token):
        self.run, self.port_of, self.api_token = run, port_of, api_token
        self.lock = threading.Lock()
        self.state = {}   # i -> {"token", "last_seq", "ticket", "posted"}
        self.heard = {}   # i -> how many times the agent's reply arrived

    def key(self, i):
        return f"{self.run}-chat-{i}"

    def _state(self, i):
        with self.lock:
            return self.state.setdefault(i, {"token": None, "last_seq": 0, "ticket": None,
                                             "posted": False})

    def _open(self, st, i):
        """A socket past its welcome (a new session, or the stored one resumed)."""
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port_of()}/v1/chat",
                                         subprotocols=[PROTOCOL], timeout=5,
                                         origin="http://127.0.0.1")
        if st["token"]:
            hello = {"type": "hello", "token": st["token"], "last_seq": st["last_seq"]}
        else:
            hello = {"type": "hello", "lang": "en",
                     "profile": {"name": f"Chat {i}", "email": f"chat-{self.run}-{i}@customer.example"}}
        ws.send(json.dumps(hello))
        while True:
            m = json.loads(ws.recv())
            if m["type"] == "welcome":
                st["token"] = st["token"] or m.get("token")
                return ws
            if m["type"] == "error":
                ws.close()
                raise ConnectionError(m.get("code"))

    def _events(self, ws, st, i, until):
        """Reads frames, counting the agent's reply, until until(frame) is true."""
        while True:
            m = json.loads(ws.recv())
            if "seq" in m and m["seq"] > st["last_seq"]:
                st["last_seq"] = m["seq"]
            if m["type"] == "message" and m.get("from") == "agent" and \
                    m.get("text") == f"reply to {self.key(i)}":
                with self.lock:
                    self.heard[i] = self.heard.get(i, 0) + 1
            if until(m):
                return m

    def say(self, i, conn):
        """Load's send: the customer's message until its ack frame."""
        st = self._state(i)
        key = self.key(i)
        try:
            ws = self._open(st, i)
        except (OSError, websocket.WebSocketException, ValueError):
            return False
        try:
            ws.send(json.dumps({"type": "message", "client_id": key,
                                "text": f"My screen is cracked. {clients.marker(key)}"}))
            m = self._events(ws, st, i, lambda m: m.get("client_id") == key and
                             m["type"] in ("ack", "error"))
            if m["type"] == "error":
                if m.get("code") in ("not_stored", "busy", "not_ready"):
                    return False
                raise RuntimeError(f"chat message refused: {m}")
            st["ticket"] = m["ticket"]
            return True
        except (OSError, websocket.WebSocketException, ValueError):
            return False
        finally:
            ws.close()

    def hear_reply(self, answered):
        """Load's send for the j-th answered conversation: the agent's reply
        posted (its key makes a retry harmless), then heard on the socket."""
        def send(j, conn):
            i = answered[j]
            st = self._state(i)
            if not st["posted"]:
                body = json.dumps({"text": f"reply to {self.key(i)}",
                                   "key": f"reply-{self.key(i)}"})
                status = conn.post(f"/v1/tickets/{st['ticket']}/replies", body,
                                   {"Authorization": f"Bearer {self.api_token}",
                                    "Content-Type": "application/json"})
                if not clients.check_status(status, "POST /v1/tickets/{n}/replies"):
                    return False
                st["posted"] = True
            if self.heard.get(i, 0) > 0:
                return True
            try:
                ws = self._open(st, i)
            except (OSError, websocket.WebSocketException, ValueError):
                return False
            try:
                self._events(ws, st, i, lambda m: self.heard.get(i, 0) > 0)
                # A moment more: a repeated push would arrive now.
                ws.settimeout(0.2)
                try:
                    self._events(ws, st, i, lambda m: False)
                except websocket.WebSocketTimeoutException:
                    pass
                return True
            except (OSError, websocket.WebSocketException, ValueError):
                return self.heard.get(i, 0) > 0
            finally:
                ws.close()
        return send
