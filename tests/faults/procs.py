"""The fault suite's processes: a PostgreSQL cluster of its own (scripts/lib.sh's
pg_start and pg_stop), `intake serve` gateways, a loopback SMTP server (Debian's
aiosmtpd, as tests/support/harness.c starts it), an HTTP sink standing in for
the SMS provider and callback receivers, dovecot (the harness's configuration)
and haproxy. Every process is started here and stopped here: Stack.close()
stops what is still running, in reverse order, also when a scenario failed.

Only 127.0.0.1. Faults are real: kill -9, pg_ctl's immediate stop, a server
that is stopped and later started again on the same port.
"""
import email
import email.policy
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, seconds=15.0, what="server"):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


def lib_sh(scripts, command):
    """Runs a function of scripts/lib.sh; raises on failure."""
    subprocess.run(["bash", "-c", f'. "{scripts}/lib.sh" && {command}'], check=True)


class Stack:
    """What a scenario started, stopped in reverse order by close()."""

    def __init__(self):
        self.items = []

    def push(self, thing):
        self.items.append(thing)
        return thing

    def close(self):
        while self.items:
            try:
                self.items.pop().stop()
            except Exception as e:  # keep stopping the rest
                print(f"  (stopping: {e})")


class Cluster:
    """A throwaway PostgreSQL: synchronous_commit stays on, so a commit the
    gateway acknowledged is in the kernel before the answer and survives an
    immediate stop (fsync off only matters when the machine itself crashes)."""

    def __init__(self, scripts, directory, port):
        self.scripts, self.dir, self.port = scripts, directory, port
        self.settings = "fsync=off full_page_writes=off max_connections=200"

    def url(self, db="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        lib_sh(self.scripts, f'pg_start "{self.dir}" {self.port} {self.settings}')
        return self

    def crash(self):
        """pg_ctl stop -m immediate: every backend killed, recovery at the next start."""
        lib_sh(self.scripts, f'pg_run "$(pg_bin)/pg_ctl" -D "{self.dir}/data" -m immediate -w stop >/dev/null')

    def stop(self):
        lib_sh(self.scripts, f'pg_stop "{self.dir}"')

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, db, query):
        """Rows of a query as lists of strings (psql's unaligned output)."""
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
             "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
            check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def value(self, db, query):
        rows = self.sql(db, query)
        return rows[0][0] if rows else None

    def create_db(self, db):
        self.sql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        self.sql("postgres", f"CREATE DATABASE {db}")


class Gateway:
    """`intake serve` on a port of its own; kill9() and term() are the faults."""

    API_TOKEN = "fault-api-token-0123456789abcdef"

    def __init__(self, binary, db_url, config_path, workdir, name, port=None):
        self.binary, self.db_url, self.config = binary, db_url, config_path
        self.port = port or free_port()
        self.log = os.path.join(workdir, f"{name}.log")
        self.proc = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True):
        env = dict(os.environ, INTAKE_DATABASE_URL=self.db_url,
                   INTAKE_LISTEN=f"127.0.0.1:{self.port}", INTAKE_API_TOKEN=self.API_TOKEN,
                   INTAKE_CONFIG=self.config)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, seconds=30.0):
        end = time.time() + seconds
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"intake serve exited ({self.proc.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"intake serve did not come up; see {self.log}")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def term(self, seconds=60):
        """SIGTERM and wait: the exit status (0 for a clean drain)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        self.term()


def migrate(binary, db_url):
    env = dict(os.environ, INTAKE_DATABASE_URL=db_url, INTAKE_CONFIG="")
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)


class HttpSink:
    """The SMS provider and callback receivers: records every POST (path,
    Idempotency-Key, body) and answers 201. away() closes its port (connection
    refused, as a provider that is down); back() opens the same port again."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.requests = []
        self.open = set()  # connections kept alive: cut when the sink goes away
        self.cut = []  # keys of requests taken whose answer away() cut
        self.server = None

    def start(self):
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: without this, Nagle and the
            # client's delayed ACK hold every answer 40 ms.
            disable_nagle_algorithm = True

            def setup(self):
                super().setup()
                with sink.lock:
                    sink.open.add(self.connection)

            def finish(self):
                with sink.lock:
                    sink.open.discard(self.connection)
                super().finish()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                key = self.headers.get("Idempotency-Key")
                with sink.lock:
                    sink.requests.append((self.path, key, body))
                try:
                    self.send_response(201)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    # away() cut the connection between taking the request
                    # and answering it: the sender saw no answer and sends
                    # it again, as after a kill -9 between send and record.
                    with sink.lock:
                        sink.cut.append(key)
                    raise

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # a gateway killed mid-request resets its connection: expected here

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def away(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            for c in self.open:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    back = start

    def received(self, prefix):
        with self.lock:
            return [r for r in self.requests if r[0].startswith(prefix)]

    def stop(self):
        self.away()


class SmtpServer:
    """aiosmtpd storing mail in a Maildir, as the integration tests run it."""

    def __init__(self, workdir, port=None):
        self.port = port or free_port()
        self.dir = os.path.join(workdir, "smtp")
        self.proc = None

    def start(self):
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}", "-c",
             "aiosmtpd.handlers.Mailbox", self.dir], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_port(self.port, what="aiosmtpd")
        return self

    back = start

    def away(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    stop = away

    def messages(self):
        """[(Message-ID, To, Subject, text)] of every mail received."""
        out = []
        new = os.path.join(self.dir, "new")
        for name in sorted(os.listdir(new)) if os.path.isdir(new) else []:
            with open(os.path.join(new, name), "rb") as f:
                m = email.message_from_binary_file(f, policy=email.policy.default)
            body = m.get_body(("plain",))
            out.append((m["Message-ID"], m["To"], m["Subject"],
                        body.get_content() if body else ""))
        return out


class Dovecot:
    """dovecot on loopback with one user (agent/secret) and a Maildir, the
    configuration of tests/support/harness.c's imap_start."""

    def __init__(self, workdir, port=None):
        self.port = port or free_port()
        self.dir = os.path.join(workdir, "imap")
        self.seq = 0

    def start(self):
        d = self.dir
        for sub in ("run", "state", "mail/agent/new", "mail/agent/cur", "mail/agent/tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        shutil.chown(os.path.join(d, "mail"), "dovecot", "dovecot")
        subprocess.run(["chown", "-R", "dovecot:dovecot", os.path.join(d, "mail")], check=True)
        conf = f"""protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = static
  args = password=secret
}}
mail_location = maildir:{d}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""
        with open(os.path.join(d, "dovecot.conf"), "w") as f:
            f.write(conf)
        subprocess.run(["dovecot", "-c", os.path.join(d, "dovecot.conf")], check=True)
        wait_port(self.port, what="dovecot")
        return self

    def deliver(self, raw):
        """Drops a message into the INBOX, as a local delivery would."""
        self.seq += 1
        name = f"{os.getpid()}.{self.seq}.fault"
        tmp = os.path.join(self.dir, "mail/agent/tmp", name)
        with open(tmp, "wb") as f:
            f.write(raw)
        shutil.chown(tmp, "dovecot", "dovecot")
        os.rename(tmp, os.path.join(self.dir, "mail/agent/new", name))

    def unread(self):
        """Messages still in new/ or without the Seen flag in cur/."""
        new = os.listdir(os.path.join(self.dir, "mail/agent/new"))
        cur = [n for n in os.listdir(os.path.join(self.dir, "mail/agent/cur"))
               if "S" not in n.rpartition(":2,")[2]]
        return len(new) + len(cur)

    def stop(self):
        subprocess.run(["dovecot", "-c", os.path.join(self.dir, "dovecot.conf"), "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Haproxy:
    """haproxy in front of the gateways: round robin, a failed connection
    retried on the other server (redispatch), health checks on /healthz."""

    def __init__(self, workdir, backends, port=None):
        self.port = port or free_port()
        self.workdir, self.backends = workdir, backends
        self.proc = None

    def start(self):
        servers = "\n".join(
            f"    server gw{i} 127.0.0.1:{p} check inter 200ms fall 1 rise 1"
            for i, p in enumerate(self.backends))
        conf = f"""global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    option http-server-close
frontend intake
    bind 127.0.0.1:{self.port}
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk GET /healthz
    retry-on conn-failure empty-response response-timeout
{servers}
"""
        path = os.path.join(self.workdir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", path],
                                     stdout=open(os.path.join(self.workdir, "haproxy.log"), "ab"),
                                     stderr=subprocess.STDOUT)
        wait_port(self.port, what="haproxy")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
