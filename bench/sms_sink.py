#!/usr/bin/python3
"""An SMS provider stand-in for bench/phone-run (BENCH_PHONE_SMS=1).

usage: sms_sink.py PORT COUNT_FILE
Answers every POST with 201 on keep-alive connections, as a provider's
Messages API does, and writes how many it took to COUNT_FILE when stopped
(SIGTERM). Threads, so that it keeps up with the outbox's one connection
and never becomes what the benchmark measures.
"""
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

taken = 0
lock = threading.Lock()


class Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global taken
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            taken += 1
        body = b'{"status": "queued"}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    port, count_file = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Provider)
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    with open(count_file, "w") as f:
        f.write(f"{taken}\n")


if __name__ == "__main__":
    main()
