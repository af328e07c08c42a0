#!/usr/bin/env bash
# CTest's node tests (the browser tests, the OpenAPI check): a fresh database on
# the test cluster (INTAKE_TEST_PG), migrated by the binary under test, then the
# test script, which starts and stops its own gateways. Its npm packages come
# from scripts/test (npm ci in the script's folder).
# Usage: run-node-test.sh TEST.mjs INTAKE_BINARY ARTIFACTS_DIR
set -euo pipefail
script="$1" binary="$2" artifacts="$3"
dir="$(cd "$(dirname "$script")" && pwd)"
name="$(basename "$script" .test.mjs)"
: "${INTAKE_TEST_PG:?run through scripts/test, which starts the test database}"
if [ ! -d "$dir/node_modules" ]; then
  echo "$dir/node_modules is missing: run scripts/test (or npm ci in $dir)" >&2
  exit 1
fi
if grep -q playwright "$script" && [ ! -x /usr/bin/chromium ]; then
  echo "/usr/bin/chromium is missing: apt-get install chromium" >&2
  exit 1
fi
db="t_node_${name}_$$"
server="${INTAKE_TEST_PG%/*}"
psql "$INTAKE_TEST_PG" -XAqc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql "$INTAKE_TEST_PG" -XAqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
INTAKE_DATABASE_URL="$server/$db" "$binary" migrate >/dev/null
INTAKE_BINARY="$binary" DB_URL="$server/$db" ARTIFACTS="$artifacts" node "$script"
