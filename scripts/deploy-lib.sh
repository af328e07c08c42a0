# Shared by scripts/image-test and scripts/deploy-test: the pass/fail count, free
# ports, waiting for a gateway, a contact, an email, a chat conversation, and a
# throwaway PostgreSQL. Sourced after lib.sh, not run.

# Debian's Python, whatever else is first on PATH: python3-websockets and
# python3-yaml are its packages.
PY=/usr/bin/python3

DEPLOY_PASSED=0
DEPLOY_LOGS=()
DEPLOY_STARTED=$(date +%s)

pass() {
  DEPLOY_PASSED=$((DEPLOY_PASSED + 1))
  printf 'ok %d - %s\n' "$DEPLOY_PASSED" "$*"
}

# fail MESSAGE: say what failed, show the end of every log the script
# registered (DEPLOY_LOGS), print the closing count and exit; the EXIT trap
# cleans up.
fail() {
  printf 'not ok - %s\n' "$*" >&2
  local f
  for f in "${DEPLOY_LOGS[@]}"; do
    [ -s "$f" ] || continue
    printf -- '--- %s (last 40 lines)\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
  summary 1
  exit 1
}

# summary FAILED: the time taken, then the closing line "NAME: N passed, N failed".
summary() {
  local took=$(($(date +%s) - DEPLOY_STARTED))
  printf '%s took %dm%02ds\n' "$DEPLOY_NAME" $((took / 60)) $((took % 60))
  printf '%s: %d passed, %d failed\n' "$DEPLOY_NAME" "$DEPLOY_PASSED" "$1"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_status URL [curl args...]: the status code only ("000" when nothing answered).
http_status() {
  local url="$1"; shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

# alive PID: the process runs (a child that exited but was not waited for
# yet is a zombie, which kill -0 still finds).
alive() {
  local state
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# wait_healthy URL PID SECONDS: until URL/healthz answers 200; fails when the
# process PID ends first or the time runs out.
wait_healthy() {
  local url="$1" pid="$2" secs="$3" i
  for ((i = 0; i < secs * 10; i++)); do
    [ "$(http_status "$url/healthz")" = 200 ] && return 0
    alive "$pid" || fail "the gateway behind $url exited before it answered /healthz"
    sleep 0.1
  done
  fail "$url/healthz did not answer 200 within $secs s"
}

# stop_pid PID SECONDS: SIGTERM, then wait; the exit status goes to STOP_RC
# (124: it did not stop in time and was killed). Not in a $(...): only this
# shell can wait for its children.
stop_pid() {
  local pid="$1" secs="$2" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    if ! alive "$pid"; then
      STOP_RC=0
      wait "$pid" 2>/dev/null || STOP_RC=$?
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  STOP_RC=124
}

# post_contact BASE_URL TOKEN EXTERNAL_ID: "<status> <body>" of POST /v1/contacts.
post_contact() {
  local body
  body=$(printf '{"external_id":"%s","customer":{"name":"Li Lei","email":"li.lei@example.com"},"subject":"Order 1234 not delivered","body":"My order has not arrived yet."}' "$3")
  local out
  out=$(curl -s --max-time 15 -w '\n%{http_code}' -X POST "$1/v1/contacts" \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "$body") || true
  echo "${out##*$'\n'} ${out%$'\n'*}"
}

# metric BASE_URL NAME: the value of one unlabelled metric on /metrics.
metric() {
  curl -s --max-time 10 "$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

# chat_probe ARGS...: a chat customer (WebSocket /v1/chat, intake-chat.v1) in
# Debian's Python with python3-websockets.
#   --url ws://host:port/v1/chat --origin http://host:port
#   --text T           send one message after the welcome and wait for its ack
#   --ticket-file F    write the ack's ticket number there
#   --await-agent T    then wait for an agent's message with text T
#   --resume           then wait (60 s) for the gateway to close the socket with
#                      1001, reconnect with the session's token as the widget
#                      does, and send a second message on the resumed session
# Prints the events it saw, one JSON object a line; exits non-zero on a
# missing welcome, ack or agent message (each waited for 15 s).
chat_probe() {
  "$PY" - "$@" <<'PY'
import argparse, asyncio, json, os, time
import websockets

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--origin", required=True)
ap.add_argument("--text")
ap.add_argument("--ticket-file")
ap.add_argument("--await-agent")
ap.add_argument("--resume", action="store_true")
args = ap.parse_args()
last_seq = 0

async def expect(ws, what, match, timeout=15):
    global last_seq
    async def loop():
        global last_seq
        while True:
            event = json.loads(await ws.recv())
            print(json.dumps(event, ensure_ascii=False), flush=True)
            last_seq = max(last_seq, event.get("seq") or 0)
            if event.get("type") == "error":
                raise SystemExit(f"chat: error event while waiting for {what}")
            if match(event):
                return event
    try:
        return await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise SystemExit(f"chat: no {what} within {timeout} s")

def connect():
    return websockets.connect(args.url, subprotocols=["intake-chat.v1"], origin=args.origin,
                              open_timeout=10)

async def send_message(ws, client_id, text):
    await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))
    ack = await expect(ws, "ack", lambda e: e.get("type") == "ack" and e.get("client_id") == client_id)
    if not str(ack.get("ticket", "")).startswith("SR-"):
        raise SystemExit(f"chat: ack without a ticket: {ack}")
    return ack

async def resume(token, ticket):
    # The gateway that held the socket is draining: try again for 20 s, as a
    # browser would, until haproxy hands us to the other one.
    deadline = time.monotonic() + 20
    while True:
        try:
            async with connect() as ws:
                await ws.send(json.dumps({"type": "hello", "token": token, "last_seq": last_seq}))
                welcome = await expect(ws, "welcome", lambda e: e.get("type") == "welcome")
                if not welcome.get("resumed"):
                    raise SystemExit(f"chat: the session was not resumed: {welcome}")
                ack = await send_message(ws, "probe-2", "Thanks, still waiting.")
                if ack["ticket"] != ticket:
                    raise SystemExit(f"chat: the resumed session wrote on {ack['ticket']}, not {ticket}")
                print(json.dumps({"resumed": True, "ticket": ticket}), flush=True)
                return
        except (OSError, websockets.exceptions.WebSocketException) as e:
            if time.monotonic() > deadline:
                raise SystemExit(f"chat: could not resume: {e!r}")
            print(json.dumps({"reconnect_failed": repr(e)}), flush=True)
            await asyncio.sleep(0.5)

async def main():
    async with connect() as ws:
        if ws.subprotocol != "intake-chat.v1":
            raise SystemExit(f"chat: subprotocol {ws.subprotocol!r}")
        await ws.send(json.dumps({"type": "hello", "lang": "en",
                                  "profile": {"name": "Wang Fang"}}))
        welcome = await expect(ws, "welcome", lambda e: e.get("type") == "welcome")
        token = welcome.get("token")
        if not token:
            raise SystemExit("chat: the welcome of a new session carries no token")
        if args.text is None:
            return
        ack = await send_message(ws, "probe-1", args.text)
        if args.ticket_file:
            with open(args.ticket_file + ".tmp", "w") as f:
                f.write(ack["ticket"])
            os.rename(args.ticket_file + ".tmp", args.ticket_file)
        if args.await_agent:
            await expect(ws, "agent message",
                         lambda e: e.get("type") == "message" and e.get("from") == "agent"
                         and e.get("text") == args.await_agent)
        if not args.resume:
            return
        try:
            await expect(ws, "close", lambda e: False, timeout=60)
        except websockets.exceptions.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
            print(json.dumps({"closed": code}), flush=True)
            if code != 1001:
                raise SystemExit(f"chat: closed with {code}, not 1001 (going away)")
    await resume(token, ack["ticket"])

asyncio.run(main())
PY
}

# deploy_pg_start DIR PORT: a throwaway cluster (fsync off: nothing here
# measures durability) with a database "intake".
deploy_pg_start() {
  pg_stop "$1"
  rm -rf "$1"
  pg_start "$1" "$2" fsync=off synchronous_commit=off full_page_writes=off
  pg_createdb "$2" intake
}
