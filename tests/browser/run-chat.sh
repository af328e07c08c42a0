#!/usr/bin/env bash
# CTest's browser.chat: a fresh database on the test cluster (INTAKE_TEST_PG),
# migrated by the binary under test, then chat.test.mjs in chromium. The
# playwright-core package comes from scripts/test (npm ci in tests/browser).
# Usage: run-chat.sh INTAKE_BINARY ARTIFACTS_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$1" artifacts="$2"
: "${INTAKE_TEST_PG:?run through scripts/test, which starts the test database}"
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "playwright-core is missing: run scripts/test (or npm ci in tests/browser)" >&2
  exit 1
fi
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is missing: apt-get install chromium" >&2; exit 1; }
db="t_browser_chat_$$"
server="${INTAKE_TEST_PG%/*}"
psql "$INTAKE_TEST_PG" -XAqc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql "$INTAKE_TEST_PG" -XAqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
INTAKE_DATABASE_URL="$server/$db" "$binary" migrate >/dev/null
INTAKE_BINARY="$binary" DB_URL="$server/$db" ARTIFACTS="$artifacts" node "$here/chat.test.mjs"
