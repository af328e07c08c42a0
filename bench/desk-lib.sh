# Measurement parts shared by bench/desk-run, bench/search-run,
# bench/report-run and bench/scale-run (sourced after scripts/lib.sh), so each
# figure is measured one way whichever run prints it:
#   desk_view_ticket DB        a ticket with 200 messages (its number)
#   desk_serve DB PORT         a release gateway on DB (pid in GW_PIDS)
#   desk_round SIZE            every list and filter, the ticket view (wrk),
#                              registration over 64 connections, an SLA pass
#   search_scripts DIR DB      one pgbench script per kind of search
#   search_kind DIR DB KIND S TAG   one kind for S seconds: latencies (us) in DIR/KIND-TAG.us
#   report_month DB            the month with the most tickets (YYYY-MM)
#   report_seconds URL MONTH FORMAT   wall time of one `intake report`
#   desk_summary FILE          the table of rounds and the verdict
#   cluster_cpu                CPU time of the cluster in PGDIR so far (1/100 s)
# They expect PG_PORT, BUILD (a release build), OUT and, for the gateway's
# parts, API_TOKEN, SECS and the arrays GW_PIDS, PORT, VIEW, AGENT, DB
# (indexed by size: small, large).

desk_sql() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -X -tAq -v ON_ERROR_STOP=1 -c "$2"; }

# desk_view_ticket DB: the oldest open ticket gets 200 messages (once); its number.
desk_view_ticket() {
  local db="$1" id
  id="$(desk_sql "$db" "SELECT min(id) FROM tickets WHERE status = 'open'")"
  desk_sql "$db" "INSERT INTO messages (ticket_id, direction, channel, idempotency_key, subject, body)
             SELECT $id, CASE WHEN g % 2 = 0 THEN 'out' ELSE 'in' END, 'email',
                    'bench-view-' || g, 'Re: printer', repeat('The printer jams again. ', 20)
               FROM generate_series(1, 200) g ON CONFLICT DO NOTHING" >/dev/null
  desk_sql "$db" "SELECT number FROM tickets WHERE id = $id"
}

# desk_serve DB PORT: a gateway on the database, its pid appended to GW_PIDS.
desk_serve() {
  INTAKE_CONFIG= INTAKE_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$1" \
    INTAKE_LISTEN="127.0.0.1:$2" INTAKE_PUBLIC_URL="http://127.0.0.1:$2" \
    INTAKE_API_TOKEN="$API_TOKEN" "$BUILD/intake" serve >"$OUT/gateway-$1.log" 2>&1 &
  GW_PIDS+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the gateway on $1 never became ready; see $OUT/gateway-$1.log" >&2
  exit 1
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# name|who|path: who is api or agent (a plain agent of the complaints queue).
DESK_CASES=(
  "open work, most urgent first|api|/v1/tickets?limit=50"
  "status=open|api|/v1/tickets?status=open&limit=50"
  "queue=technical&overdue=true|api|/v1/tickets?queue=technical&overdue=true&limit=50"
  "queue=complaints&priority=urgent|api|/v1/tickets?queue=complaints&priority=urgent&limit=50"
  "assignee=none|api|/v1/tickets?assignee=none&limit=50"
  "an agent's list (their queues)|agent|/v1/tickets?limit=50"
  "assignee=me|agent|/v1/tickets?assignee=me&limit=50"
  "resolved and closed|api|/v1/tickets?status=resolved,closed&limit=50"
  "an agent's resolved and closed|agent|/v1/tickets?status=resolved,closed&limit=50"
  "ticket with 200 messages|api|VIEW"
)

# desk_round SIZE: one round of every case on one size, "case<TAB>p50<TAB>p99" lines.
desk_round() {
  local s="$1" c name who path token line
  for c in "${DESK_CASES[@]}"; do
    IFS='|' read -r name who path <<<"$c"
    [ "$path" = VIEW ] && path="/v1/tickets/${VIEW[$s]}"
    token="$API_TOKEN"
    [ "$who" = agent ] && token="${AGENT[$s]}"
    BENCH_TOKEN="$token" wrk -t1 -c1 -d"${SECS}s" --latency -s "$ROOT/bench/desk.lua" \
      "http://127.0.0.1:${PORT[$s]}$path" >"$OUT/wrk.txt" 2>&1
    line="$(grep '^BENCH ' "$OUT/wrk.txt" | tail -1)"
    if [ -z "$line" ] || ! grep -q ' non2xx=0 ' <<<"$line"; then
      echo "$name on $s: no clean run:" >&2
      cat "$OUT/wrk.txt" >&2
      exit 1
    fi
    printf '%s\t%s\t%s\n' "$name" "$(sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p' <<<"$line")" \
      "$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$line")"
  done
  # Registration: new contacts over 64 connections (bench/run's contacts.lua),
  # in a database filled by bench/scale-run with the fill's own texts: with
  # bench/run's, whose words no search asks for, every round put thousands
  # of messages without them at the newest end, and a search walking the
  # newest messages for a word read more of them every time (docs/desk.md).
  local templates=""
  if desk_sql "${DB[$s]}" "SELECT to_regclass('scale_bench.templates') IS NOT NULL" | grep -q t; then
    templates="$OUT/templates-$s.tsv"
    desk_sql "${DB[$s]}" "SELECT subject || chr(9) || body FROM scale_bench.templates ORDER BY id" \
      >"$templates"
  fi
  local run rate p99 _
  run="$(BENCH_TEMPLATES="$templates" CONNS=64 register_once "${PORT[$s]}" "desk$s")"
  read -r rate p99 _ <<<"$run"
  printf '%s\t%s\t%s\n' "registration, contacts/s" "$rate" "$p99"
  # The SLA scanner's pass, as every gateway makes it every 30 s.
  local t
  t="$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "${DB[$s]}" -X -q \
        -c '\timing on' -c "SELECT intake_sla_scan('{}') IS NOT NULL" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')"
  printf '%s\t%s\t%s\n' "SLA scan, one pass" "$t" "$t"
}

# search_scripts DIR DB: one pgbench script per kind of search, a search as
# intake_desk() receives it from the gateway (bench/search-run says what each
# kind is), and "reference", a ticket read by its number. The kinds' names
# are in SEARCH_KINDS (reference first).
SEARCH_KINDS=(reference zh2 en en_rare en_agent phone email number name)
search_scripts() {
  local dir="$1" db="$2" tickets customers agent
  tickets="$(desk_sql "$db" 'SELECT max(id) FROM tickets')"
  customers="$(desk_sql "$db" 'SELECT max(id) FROM customers')"
  agent="$(desk_sql "$db" "SELECT min(a.id) FROM agents a WHERE a.role = 'agent'
                 AND (SELECT count(*) FROM agent_queues q WHERE q.agent_id = a.id) = 1")"
  search_script() { # NAME Q-EXPRESSION [SETS...]
    local name="$1" q="$2"; shift 2
    { printf '%s\n' "$@"
      printf "SELECT intake_desk(jsonb_build_object('action', 'search', 'api', true,\n"
      printf "    'ticket_prefix', 'SR-', 'q', %s));\n" "$q"; } >"$dir/$name.sql"
  }
  search_script zh2 "(ARRAY['发票', '退款', '订单', '维修', '打印', '发货', '投诉', '密码'])[:i]" \
    '\set i random(1, 8)'
  search_script en "(ARRAY['printer', 'printers', 'update', 'errors', 'stopped', 'rooms'])[:i]" \
    '\set i random(1, 6)'
  search_script en_rare "'subject ' || :n" "\\set n random(1, $tickets)"
  search_script phone "format((ARRAY['+86 138 %s %s', '138-%s-%s', '(555) %s-%s', '0%s %s'])[:i],
                        lpad(:a::text, 4, '0'), lpad(:b::text, 4, '0'))" \
    '\set i random(1, 4)' '\set a random(0, 9999)' '\set b random(0, 9999)'
  search_script email "'c' || :c || '@example.com'" "\\set c random(1, $customers)"
  search_script number "CASE WHEN :n % 2 = 0 THEN intake_number('SR-', :n) ELSE :n::text END" \
    "\\set n random(1, $tickets)"
  search_script name "'Customer ' || :c" "\\set c random(1, $customers)"
  printf '%s\n' '\set i random(1, 6)' \
    "SELECT intake_desk_search(a, jsonb_build_object('q', (ARRAY['printer', 'printers', 'update',
         'errors', 'stopped', 'rooms'])[:i], 'ticket_prefix', 'SR-')) FROM agents a WHERE a.id = $agent;" \
    >"$dir/en_agent.sql"
  printf '%s\n' "\\set n random(1, $tickets)" \
    "SELECT intake_ticket_brief(t) FROM tickets t WHERE number = intake_number('SR-', :n);" \
    >"$dir/reference.sql"
}

# search_kind DIR DB KIND SECONDS TAG: one client for SECONDS (pgbench, one
# search a transaction); the latencies in microseconds in DIR/KIND-TAG.us.
search_kind() {
  local dir="$1" db="$2" kind="$3" secs="$4" tag="$5"
  rm -f "$dir/$kind-$tag".[0-9]*
  (cd "$dir" && pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M simple -c 1 -j 1 \
    -T "$secs" -f "$kind.sql" --log --log-prefix="$kind-$tag" "$db" \
    >"$kind-$tag.out" 2>&1) || { cat "$dir/$kind-$tag.out" >&2; exit 1; }
  cat "$dir/$kind-$tag".[0-9]* | awk '{print $3}' >"$dir/$kind-$tag.us"
}

# pct P: the P-th percentile of microseconds on stdin, in ms.
pct() { sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int(NR*p/100+0.999); if(i<1)i=1; printf "%.1f", v[i]/1000}'; }

# report_month DB: the month with the most tickets, in UTC (the report's zone here).
report_month() {
  desk_sql "$1" "SELECT to_char(date_trunc('month', created_at), 'YYYY-MM') FROM tickets
                 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
}

# report_seconds URL MONTH FORMAT: wall time of one `intake report`, to the millisecond.
report_seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  INTAKE_CONFIG= INTAKE_DATABASE_URL="$1" "$BUILD/intake" report --month "$2" --timezone UTC \
    --format "$3" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}

# desk_summary FILE: FILE's lines are "size<TAB>name<TAB>p50<TAB>p99" (for
# registration: contacts/s and p99). Prints the median over the rounds of
# each, the large size's slowest round, and the verdict at the large size:
# lists p99 <= 50 ms, the ticket <= 30 ms, an SLA pass <= 50 ms, a search's
# p99 <= 100 ms, the report <= 3,000 ms, registration >= 90 % of the small
# size's rate with p99 <= 25 ms. Exit status 3 when a target is missed.
desk_summary() {
  python3 - "$1" <<'PY'
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    size, name, p50, p99 = line.rstrip("\n").split("\t")
    if name not in order:
        order.append(name)
    rows.setdefault((name, size), []).append((float(p50), float(p99)))
print(f"{'':36} {'small p50':>10} {'p99':>7} {'large p50':>10} {'p99':>7} {'(worst)':>8}")
failed = []
for name in order:
    cells = []
    for size in ("small", "large"):
        v = rows.get((name, size), [(float("nan"), float("nan"))])
        cells.append((statistics.median(p for p, _ in v), statistics.median(q for _, q in v),
                      max(q for _, q in v)))
    (s50, s99, _), (l50, l99, lworst) = cells
    if name.startswith("registration"):
        # p50 column: contacts/s; p99 column: the p99 latency.
        if l50 < 0.9 * s50:
            failed.append(f"registration at size {l50:.0f}/s < 90 % of {s50:.0f}/s")
        if l99 > 25:
            failed.append(f"registration p99 {l99:.1f} ms > 25 ms")
        print(f"{name:36} {s50:10.0f} {s99:7.1f} {l50:10.0f} {l99:7.1f} {lworst:8.1f}")
        continue
    limit = (30 if name.startswith("ticket") else 100 if name.startswith("search")
             else 3000 if name.startswith("monthly report") else 50)
    if l99 > limit:
        failed.append(f"{name}: p99 {l99:.1f} ms > {limit} ms")
    print(f"{name:36} {s50:10.1f} {s99:7.1f} {l50:10.1f} {l99:7.1f} {lworst:8.1f}")
if failed:
    print("verdict: FAIL (" + "; ".join(failed) + ")")
    sys.exit(3)
print("verdict: PASS (large: every list p99 <= 50 ms, the ticket <= 30 ms, a scan <= 50 ms, "
      "a search <= 100 ms, the report <= 3 s, registration >= 90 % of the small database's "
      "rate with p99 <= 25 ms)")
PY
}

# CPU time (1/100 s) the cluster's processes have used so far, backends that
# ended included (the postmaster reaps them): what a fill costs whatever
# else the host runs.
cluster_cpu() {
  local pm t=0 pid
  pm="$(head -1 "$PGDIR/data/postmaster.pid")"
  for pid in "$pm" $(ps --ppid "$pm" -o pid=); do
    t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo $((t * 100 / $(getconf CLK_TCK)))
}

# register_once PORT LABEL: new contacts over CONNS connections (bench/run's
# contacts.lua, its texts or BENCH_TEMPLATES's) for SECS seconds on the
# gateway at PORT; prints "contacts/s p99_ms cpu_ms_per_contact", the last
# the cluster's CPU a contact. The wrk output is kept in $OUT/wrk-LABEL.txt.
register_once() {
  local port="$1" label="$2" cpu line ok
  cpu="$(cluster_cpu)"
  BENCH_TEMPLATES="${BENCH_TEMPLATES:-}" BENCH_TOKEN="$API_TOKEN" \
    BENCH_NONCE="$label$RANDOM$RANDOM" BENCH_EMAILS=10000 \
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$ROOT/bench/contacts.lua" \
    "http://127.0.0.1:$port/" >"$OUT/wrk-$label.txt" 2>&1
  cpu=$(($(cluster_cpu) - cpu))
  line="$(grep '^BENCH ' "$OUT/wrk-$label.txt" | tail -1)"
  ok="$(sed -n 's/.* ok_rps=\([^ ]*\).*/\1/p' <<<"$line")"
  [ -n "$ok" ] || { cat "$OUT/wrk-$label.txt" >&2; exit 1; }
  printf '%s %s %s\n' "$ok" "$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$line")" \
    "$(awk -v c="$cpu" -v r="$ok" -v t="$SECS" 'BEGIN {printf "%.2f", c * 10 / (r * t)}')"
}

# median_spread: "median (min-max)" of the numbers on stdin, one a line.
median_spread() {
  sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
                                 printf "%s (%s-%s)", m, v[1], v[NR]}'
}
