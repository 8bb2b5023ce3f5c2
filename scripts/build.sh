#!/usr/bin/env bash
# Compiles src/ to dist/ (tsconfig.build.json), adds what the compiled code reads beside it
# (the guest agents' sources; the command catalog that lets `mvm --help` skip loading commands)
# and stamps it. bin/mvm runs dist/ only while nothing under src/ is newer than that stamp.
# `--if-stale` builds only when that test fails: what set-up and `npm pack` run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '[build] %s\n' "$*" >&2; }

# The same test as bin/mvm's: keep the two in step.
fresh() {
  [ -f dist/.build-stamp ] && [ -f dist/cli/main.js ] &&
    [ -z "$(find src tsconfig.json tsconfig.build.json -newer dist/.build-stamp -print -quit)" ]
}

if [ "${1:-}" = --if-stale ] && fresh; then exit 0; fi
log 'compiling src/ to dist/'
work="$(mktemp -d "$root/.dist-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The stamp takes the time the compile starts: a source saved during it still counts as newer.
touch "$work/stamp"
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$work/dist"
mkdir -p "$work/dist/guest/agent"
cp src/guest/agent.sh "$work/dist/guest/agent.sh"
# The image builder compiles the static agent from these (drivers/dev-image/guest-agent-binary).
cp src/guest/agent/*.[ch] "$work/dist/guest/agent/"
# The host's tap helper, compiled by the agent when it confines QEMU (drivers/qemu/tapfd-binary).
mkdir -p "$work/dist/drivers/qemu/tapfd"
cp src/drivers/qemu/tapfd/mvm-tapfd.c "$work/dist/drivers/qemu/tapfd/"
# The dashboard's pages are served as they are (src/dashboard/dashboard-routes.ts).
cp -R src/dashboard/static "$work/dist/dashboard/static"
MVM_CATALOG_MODULE="file://$work/dist/cli/command-catalog.js" node --input-type=module -e \
  'process.stdout.write(await (await import(process.env.MVM_CATALOG_MODULE)).catalogJson())' \
  >"$work/dist/cli/command-catalog.json"
mv "$work/stamp" "$work/dist/.build-stamp"
# Swapped whole, so bin/mvm never runs half a build (in the moment between, it runs the
# sources). -T: should a concurrent build land first, this one fails rather than nest in it.
rm -rf dist
mv -T "$work/dist" dist
log 'dist/ is up to date'
