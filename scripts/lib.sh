# Shared by scripts/up, scripts/test and bench/run: packages, build, database.
# Sourced, not run. Everything it creates lives under .local/ (git-ignored).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"

# Where database clusters live: .local, unless we run as root in a checkout the
# "postgres" user cannot reach (a clone under /root, say); then a folder of our
# own under /tmp, named after the checkout so that two checkouts never share one.
pg_root() {
  if [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
    echo "$LOCAL"
  else
    echo "/tmp/intake-pg-$(printf %s "$ROOT" | md5sum | cut -c1-12)"
  fi
}

# Debian packages the build, the tests and the demo need.
INTAKE_PACKAGES=(build-essential cmake pkg-config clang-format
  libwebsockets-dev libwebsockets-evlib-ev libev-dev libjansson-dev libcurl4-openssl-dev libpq-dev libssl-dev libcmocka-dev
  libgmime-3.0-dev libxml2-dev libesmtp-dev libzip-dev python3-aiosmtpd dovecot-imapd
  postgresql postgresql-contrib curl
  haproxy python3-websocket) # the fault suite (tests/faults): a load balancer, chat clients

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
  local missing=()
  for p in "${INTAKE_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# build DIR [cmake args...]
build() {
  local dir="$1"; shift
  cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# PostgreSQL refuses to run as root: under root the cluster belongs to "postgres".
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DIR PORT [extra postgres -c settings...]: initdb if needed, then start.
pg_start() {
  local dir="$1" port="$2"; shift 2
  local bin; bin="$(pg_bin)"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; chmod 700 "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    pg_run "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if pg_run "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then return 0; fi
  local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
  for o in "$@"; do opts="$opts -c $o"; done
  pg_run "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o "$opts" start >/dev/null
}

pg_stop() {
  local dir="$1"
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pg_run "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_createdb PORT NAME: create the database unless it exists.
pg_createdb() {
  local port="$1" name="$2"
  psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAq \
    -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -c "CREATE DATABASE \"$name\""
}
