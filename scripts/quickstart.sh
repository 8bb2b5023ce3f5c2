#!/usr/bin/env bash
# The main job: a fleet-of-one on this machine. Set-up (idempotent), then the coordinator on
# embedded SQLite and the agent in one process, a demo tenant with a gateway pool and a worker
# pool, and real microVMs booted to running, warm and sleeping. Running it again changes nothing.
# Extra arguments go to `mvm quickstart` (e.g. --exit to return once converged, --json).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
exec bin/mvm quickstart "$@"
