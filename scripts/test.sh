#!/usr/bin/env bash
# The test command: set-up (idempotent), Postgres, type check, lint, then every test on SQLite and
# Postgres, real QEMU guests (TCG here), real network namespaces and nftables.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/ensure-postgres.sh
export MVM_TEST_PG_URL="${MVM_TEST_PG_URL:-postgres://mvm:mvm@127.0.0.1:5432/postgres}"
echo '[test] type check' >&2
node_modules/.bin/tsc --noEmit -p .
echo '[test] lint' >&2
node_modules/.bin/eslint .
echo '[test] vitest' >&2
exec node_modules/.bin/vitest run "$@"
