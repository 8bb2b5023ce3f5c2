#!/usr/bin/env bash
# Seed 002's smoke test, §2–§13, as mvm does it (docs/smoke-002.md maps every step): a private
# data dir, a coordinator on SQLite, `mvm add host` (dev), an agent whose tenant networks and
# VMMs live in a network namespace of this script's own, real QEMU microVMs at dev sizes
# (1 vCPU, 256 MiB), asserts on `--json` output, and a teardown on success and on failure.
# Needs root, qemu-system-x86_64, iproute2 and nft. Run from anywhere: bash scripts/smoke-002.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MVM_BIN=${MVM_BIN:-$root/bin/mvm}
work=$(mktemp -d /tmp/mvm-smoke-XXXXXX)
ns=mvms-$$
port=$((20000 + $$ % 20000))
export MVM_DATA_DIR=$work/data
export MVM_CACHE_DIR=$work/cache
# Secrets drives are built on tmpfs, outside the data dir (docs/secrets.md): a dir of this run's.
export MVM_SECRETS_DIR=/dev/shm/mvm-smoke-$$
export MVM_COORDINATOR_URL=http://127.0.0.1:$port
unset MVM_TOKEN MVM_CONFIG MVM_AGENT_SOCKET MVM_NETWORK
coordinator_pid=''
agent_pid=''
failed=1

step() { printf '\n=== %s\n' "$*"; }
say() { printf '+ %s\n' "$*" >&2; }
mvm() {
  say "mvm $*"
  "$MVM_BIN" "$@" 2> >(grep -v "^mvm: dist/ is missing" >&2)
}
# Runs mvm with --json and keeps the answer in $out (also printed).
json() {
  out=$(mvm "$@" --json)
  printf '%s\n' "$out"
}
# check 'description' 'JS expression of d' — d is the last --json answer ($out).
check() {
  local what=$1 expr=$2
  if ! printf '%s' "$out" | node -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const ok = new Function("d", `return (${process.argv[1]});`)(d);
    if (!ok) process.exit(1);' "$expr"; then
    echo "FAILED: $what  [$expr]" >&2
    return 1
  fi
  echo "ok: $what"
}
# poll 'description' 'JS expression of d' mvm-args… — reruns the command until the check holds
# (figures from the agents' heartbeats arrive within a second or two).
poll() {
  local what=$1 expr=$2 deadline=$((SECONDS + 60))
  shift 2
  while :; do
    out=$("$MVM_BIN" "$@" --json 2>/dev/null || echo null)
    if printf '%s' "$out" | node -e '
      const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
      process.exit(d !== null && new Function("d", `return (${process.argv[1]});`)(d) ? 0 : 1);' \
      "$expr"; then
      say "mvm $* --json"
      printf '%s\n' "$out"
      echo "ok: $what"
      return 0
    fi
    if [ $SECONDS -ge "$deadline" ]; then
      echo "FAILED: $what  [$expr]: $out" >&2
      return 1
    fi
    sleep 1
  done
}
# pick 'JS expression of d' — prints a value from the last --json answer.
pick() {
  printf '%s' "$out" | node -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const v = new Function("d", `return (${process.argv[1]});`)(d);
    if (v === undefined || v === null) process.exit(1);
    process.stdout.write(String(v));' "$1"
}
# Waits until every instance of a tenant (TCG boots take seconds) is at its desired status.
settle() {
  local tenant=$1 deadline=$((SECONDS + ${2:-300}))
  say "waiting for every instance of $tenant to reach its desired status"
  while :; do
    out=$("$MVM_BIN" instance list --tenant "$tenant" --json 2>/dev/null || echo '[]')
    if printf '%s' "$out" | node -e '
      const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
      const bad = d.filter((i) => i.status === "failed");
      if (bad.length > 0) { console.error(JSON.stringify(bad)); process.exit(2); }
      process.exit(d.every((i) => i.status === i.desiredStatus) ? 0 : 1);'; then
      return 0
    elif [ $? -eq 2 ]; then
      echo "FAILED: an instance of $tenant failed" >&2
      return 1
    fi
    if [ $SECONDS -ge "$deadline" ]; then
      echo "FAILED: $tenant did not settle: $out" >&2
      return 1
    fi
    sleep 1
  done
}

# The VMM pids the local agent of a data dir knows (VMs outlive their agent: a restart adopts them).
vmm_pids() {
  MVM_DATA_DIR=$1 "$MVM_BIN" agent instance list --json 2>/dev/null |
    node -e 'const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
      for (const vm of d) if (vm.pid) console.log(vm.pid);' || true
}

teardown() {
  local code=$?
  set +e
  # Cleaning up runs to its end: a second ^C or TERM does not cut it short.
  trap '' INT TERM
  step "teardown ($([ $failed -eq 0 ] && echo passed || echo "FAILED, exit $code"))"
  local pids=''
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    if [ $failed -ne 0 ]; then
      tail -n 40 "$work/agent.log" >&2
      # Whatever the run left is destroyed the normal way, through the coordinator and agent.
      for t in smoke-app smoke-test; do "$MVM_BIN" tenant destroy "$t" --force >/dev/null 2>&1; done
      for _ in $(seq 1 30); do [ -z "$(vmm_pids "$MVM_DATA_DIR")" ] && break; sleep 1; done
    fi
    pids=$(vmm_pids "$MVM_DATA_DIR")
    kill -TERM "$agent_pid"
    wait "$agent_pid" 2>/dev/null
  fi
  # VMMs still running (a failed destroy): ended by their pid, as their agent recorded it.
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
  if [ -n "$coordinator_pid" ] && kill -0 "$coordinator_pid" 2>/dev/null; then
    [ $failed -ne 0 ] && tail -n 20 "$work/coordinator.log" >&2
    kill -TERM "$coordinator_pid"
    wait "$coordinator_pid" 2>/dev/null
  fi
  if [ -d "$work/reconcile" ]; then
    # The one-shot node of §9, if the run stopped before it emptied it.
    MVM_DATA_DIR=$work/reconcile MVM_NETWORK=off "$MVM_BIN" agent reconcile \
      --desired "$work/desired-none.json" >/dev/null 2>&1
  fi
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work" "$MVM_SECRETS_DIR"
  if [ $failed -eq 0 ]; then echo 'smoke-002: PASSED'; else echo 'smoke-002: FAILED' >&2; fi
  exit "$code"
}
trap teardown EXIT
trap 'exit 130' INT TERM

for tool in qemu-system-x86_64 ip nft node; do
  command -v "$tool" >/dev/null || { echo "smoke-002 needs $tool" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo 'smoke-002 needs root (bridges, taps, cgroups)' >&2; exit 1; }

mkdir -p "$MVM_CACHE_DIR"
# The dev image from the shared cache, hard-linked (nothing there is written in place), so
# `mvm node gc` collects in a cache of this run's own.
for part in kernels init-drives guest-agent images; do
  [ -d "/var/cache/mvm/$part" ] && cp -al "/var/cache/mvm/$part" "$MVM_CACHE_DIR/$part"
done
echo '{"schemaVersion":1,"tenants":[]}' >"$work/desired-none.json"
ip netns add "$ns"
ip -n "$ns" link set lo up

step '§2 add host (dev): coordinator, host checks, keys, node; then the agent'
say "mvm coordinator serve --listen 127.0.0.1:$port &"
"$MVM_BIN" coordinator serve --listen "127.0.0.1:$port" >"$work/coordinator.log" 2>&1 &
coordinator_pid=$!
for _ in $(seq 1 60); do
  "$MVM_BIN" status --json 2>/dev/null | grep -q '"up": true' && break
  sleep 1
done
json add host
check 'the node is registered' 'd.steps.some((s) => s.name === "node identity" && s.status === "registered")'
check 'it names the next command' 'd.next.some((n) => n.startsWith("mvm agent serve --node"))'
node_id=$(pick 'd.next[0].split(" ").at(-1)')
# The seed's counts (7 instances running or warm) on a small dev host: the node offers 16
# vCPUs to the scheduler (an overcommit, as the quickstart's); TCG guests idle cheaply.
agent_flags=(--node "$node_id" --netns "$ns" --heartbeat-ms 1000 --vcpus 16)
say "mvm agent serve ${agent_flags[*]} &"
"$MVM_BIN" agent serve "${agent_flags[@]}" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 60); do
  "$MVM_BIN" status --json 2>/dev/null | node -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
    process.exit(d.agent.up && d.node.lastHeartbeat ? 0 : 1);' && break
  sleep 1
done
json status
check 'coordinator, node and agent are up' 'd.coordinator.up && d.node.registered && d.agent.up'
json node info
poll 'node info: this host, its arch and declared capacity' \
  "d.id === '$node_id' && d.arch !== '' && d.capacity.vcpus === 16 && d.capacity.memMib > 0" node info

step '§3 new openclaw (dev sizes): tenant, gateway and worker pools, scaled'
json new openclaw smoke-app --dev-image --cpus 1 --mem 256 --data-disk 64 --wait --wait-for 8m
check 'deployment settled' 'd.wait.settled === true && d.next === "mvm connect smoke-app"'
json tenant list
check 'smoke-app is listed' 'd.some((t) => t.id === "smoke-app")'
json tenant info smoke-app
check 'quotas and network' 'd.id === "smoke-app" && d.quotas.maxVcpus > 0 && /\/24$/.test(d.subnet)'
json pool list smoke-app
check 'gateways and workers' 'd.map((p) => p.id).sort().join() === "gateways,workers"'
json pool info smoke-app/gateways
check 'gateways: role gateway, 1 running' 'd.role === "gateway" && d.counts.running === 1'
json pool info smoke-app/workers
check 'workers: role worker, 2 running + 1 warm, 64 MiB disk' 'd.role === "worker" && d.counts.running === 2 && d.counts.warm === 1 && d.dataDiskMib === 64'
json instance list --tenant smoke-app
check 'four instances across both pools' 'd.length === 4'

step '§4 connect'
mvm connect smoke-app
json connect smoke-app
check 'network: gateway, subnet, bridge' 'd.network.bridge === `br-tenant-${d.network.netId}` && d.network.gateway.endsWith(".1")'
check 'instances with statuses and IPs' 'd.instances.length === 4 && d.instances.every((i) => i.ip && i.status === i.desiredStatus)'
check 'next commands' 'd.commands.some((c) => c.command.includes("mvm secrets set")) && d.commands.some((c) => c.command.includes("mvm instance exec"))'

step '§5 tenant lifecycle'
json tenant create smoke-test --net-id 99 --subnet 10.240.99.0/24 --max-vcpus 8 --max-mem 8192 --max-running 4
json tenant list
check 'both tenants' 'd.map((t) => t.id).sort().join() === "smoke-app,smoke-test"'
mvm tenant info smoke-test
json tenant info smoke-test
check 'net id 99, quotas' 'd.netId === 99 && d.subnet === "10.240.99.0/24" && d.quotas.maxVcpus === 8 && d.quotas.maxMemMib === 8192 && d.quotas.maxRunning === 4'
# The bridge appears once the tenant has an instance on this node (§6); verify what is live.
json net verify --netns "$ns"
check 'the live network matches' 'd.ok === true'

step '§6 pool lifecycle'
json pool create smoke-test/gateways --flake . --profile minimal --cpus 1 --mem 256 --data-disk 64 --role gateway
check 'role gateway' 'd.role === "gateway"'
json pool create smoke-test/workers --flake . --profile minimal --cpus 1 --mem 256 --data-disk 64
check 'default role worker' 'd.role === "worker"'
json pool list smoke-test
check 'both pools' 'd.length === 2'
json pool info smoke-test/workers
# `--flake .` is recorded as the directory it names (path:/…), so a build finds it.
check 'flake, profile, resources' '/^path:\//.test(d.flake) && d.profile === "minimal" && d.vcpus === 1 && d.memMib === 256'
# `mvm pool build` is not run: `--flake .` names this directory, which holds no flake with mvm outputs; the pools boot the dev image.
json pool scale smoke-test/workers --running 2 --warm 1 --sleeping 1
check 'desired counts' 'd.pool.counts.running === 2 && d.pool.counts.warm === 1 && d.pool.counts.sleeping === 1'
settle smoke-test
json net verify --netns "$ns"
check 'bridge br-tenant-99 is live and correct' 'd.ok === true'
ip -n "$ns" link show br-tenant-99 >/dev/null

step '§7 instance lifecycle'
mvm instance list --tenant smoke-test --pool workers
json instance list --tenant smoke-test --pool workers
instance=$(pick 'd.find((i) => i.desiredStatus === "warm").id')
path=smoke-test/workers/$instance
json instance start "$path"
settle smoke-test
poll 'running, with its VMM pid, IP and tap' \
  "d.instance.status === 'running' && d.sample?.status === 'running' && d.sample.pid > 0 && d.sample.tap && d.instance.ip" \
  instance stats "$path"
# No SSH in mvm: a command through the coordinator and the node's tunnel (docs/exec.md).
mvm instance exec "$path" -- uname -a | tee "$work/uname"
grep -q Linux "$work/uname"
mvm instance exec "$path" -- ls /run/secrets
json instance stop "$path"
settle smoke-test
json instance list --tenant smoke-test --pool workers
check 'the instance is stopped' "d.find((i) => i.id === '$instance').status === 'stopped'"

step '§8 sleep / wake round trip'
json instance start "$path"
settle smoke-test
poll 'running, with its tap' "d.sample?.status === 'running' && d.sample.tap" instance stats "$path"
ip_before=$(pick 'd.instance.ip')
tap_before=$(pick 'd.sample.tap')
json instance sleep "$path"
settle smoke-test
json instance stats "$path"
check 'sleeping' "d.instance.status === 'sleeping'"
json instance wake "$path"
settle smoke-test
poll 'running again with the same IP and tap' \
  "d.instance.status === 'running' && d.instance.ip === '$ip_before' && d.sample?.status === 'running' && d.sample.tap === '$tap_before'" \
  instance stats "$path"
mvm instance exec "$path" -- true

step '§9 agent desired, agent reconcile'
json agent desired --file "$work/desired.json"
cat "$work/desired.json"
out=$(cat "$work/desired.json")
check 'both tenants, with their pools and counts' 'd.tenants.length === 2'
# The seed file is what `mvm agent reconcile` converges a node on when it has no coordinator;
# this node follows its coordinator, so the one-shot runs on a node of its own: a second data
# dir, networking off, a tenant of the document that it boots and then removes.
node -e '
  const fs = require("fs");
  const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  d.tenants = d.tenants.filter((t) => t.tenantId === "smoke-test");
  for (const t of d.tenants) t.pools = t.pools.filter((p) => p.poolId === "gateways");
  for (const p of d.tenants[0].pools) p.desiredCounts = { running: 1, warm: 0, sleeping: 0 };
  fs.writeFileSync(process.argv[2], JSON.stringify(d, null, 2));' \
  "$work/desired.json" "$work/desired-one.json"
cat "$work/desired-one.json"
echo
MVM_DATA_DIR=$work/reconcile MVM_NETWORK=off json agent reconcile --desired "$work/desired-one.json"
check 'one instance converged, none failed' 'd.length === 1 && d.every((s) => s.error === undefined)'
ls "$work/reconcile/vms"
MVM_DATA_DIR=$work/reconcile MVM_NETWORK=off json agent reconcile --desired "$work/desired-none.json"
check 'and an empty document removes it' 'd.length === 1 && d.every((s) => s.error === undefined)'
if [ -n "$(ls -A "$work/reconcile/vms")" ]; then echo 'FAILED: a VM of the one-shot is left' >&2; exit 1; fi
json instance list --tenant smoke-test --pool workers
# Two running as scaled, and the one §7–8 started by hand runs on: each at its desired status.
check 'the workers match their desired state' 'd.every((i) => i.status === i.desiredStatus) && d.filter((i) => i.status === "running").length >= 2'

step '§10 agent daemon and coordinator round trip (HTTP watch, not QUIC)'
# The agent started in §2 watches its desired document (long poll) and heartbeats; the seed's
# `coordinator status/push/list-instances --node` are these:
json node info "$node_id"
check 'node ready, recent heartbeat' "d.status === 'ready' && Date.now() - Date.parse(d.lastHeartbeat) < 30000"
json pool scale smoke-test/gateways --running 1
settle smoke-test
json instance list --node "$node_id" --tenant smoke-test
check 'the pushed change reached the node' 'd.filter((i) => i.poolId === "gateways" && i.status === "running").length === 1'

step '§11 bridge verification'
mvm net verify --netns "$ns"
json net verify --netns "$ns"
check 'clean report' 'd.ok === true && d.violations.length === 0'

step '§12 operational commands'
mvm node disk
json node disk
check 'a disk report for this node, per tenant' "d.length === 1 && d[0].node === '$node_id' && d[0].disk.tenants.some((t) => t.tenant === 'smoke-test')"
mvm node stats
json pool gc smoke-test/workers
check 'pool gc: nothing beyond the retention to destroy' 'd.destroyed.length === 0 && Array.isArray(d.kept)'
json node gc --dry-run
check 'node gc plan' 'Array.isArray(d.items)'
if [ "${MVM_SMOKE_NODE_GC:-}" = 1 ]; then json node gc; fi
mvm events smoke-test
json events smoke-test --last 5
check 'five events, newest first' 'd.length === 5 && d.every((e) => e.tenantId === "smoke-test")'
mvm completions bash >/dev/null && echo 'bash completions OK'
mvm completions zsh >/dev/null && echo 'zsh completions OK'

step '§13 teardown'
json tenant destroy smoke-app --force
json tenant destroy smoke-test --force
json tenant list
check 'no tenants' 'd.length === 0'
for _ in $(seq 1 60); do
  [ -z "$("$MVM_BIN" agent instance list --json 2>/dev/null | node -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8")); if (d.length) console.log(d.length);')" ] && break
  sleep 1
done
json net verify --netns "$ns"
check 'no tenant network left' 'd.ok === true'
if ip -n "$ns" -o link show | grep -q br-tenant-; then
  echo 'FAILED: a tenant bridge is left' >&2
  exit 1
fi
mvm node disk
failed=0
