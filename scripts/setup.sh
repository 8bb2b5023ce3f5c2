#!/usr/bin/env bash
# Idempotent host set-up for mvm on Debian 12 as root: the Debian packages mvm drives and the
# npm dependencies. Safe to run any number of times; it only installs what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '[setup] %s\n' "$*" >&2; }

# Debian packages and one command each proves installed.
declare -A probes=(
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [nftables]=/usr/sbin/nft
  [e2fsprogs]=/usr/sbin/mkfs.ext4
  [busybox-static]=/bin/busybox
  [kmod]=/usr/bin/kmod
  [cpio]=/usr/bin/cpio
  [xz-utils]=/usr/bin/xz
  [lz4]=/usr/bin/lz4
  [iproute2]=/usr/sbin/ip
  [socat]=/usr/bin/socat
  [openssl]=/usr/bin/openssl
  [python3]=/usr/bin/python3
  [make]=/usr/bin/make
  [g++]=/usr/bin/g++
  # The static guest agent (src/guest/agent) is compiled at image build time.
  [gcc]=/usr/bin/gcc
  [libc6-dev]=/usr/lib/x86_64-linux-gnu/libc.a
  # Workload images: OCI images are copied with skopeo and unpacked with umoci (layers,
  # whiteouts); erofs-utils for read-only compressed rootfs images; Nix for flake builds.
  [skopeo]=/usr/bin/skopeo
  [umoci]=/usr/bin/umoci
  [erofs-utils]=/usr/bin/mkfs.erofs
  [nix-bin]=/usr/bin/nix
  # The dashboard's browser tests drive Debian's Chromium with playwright-core.
  [chromium]=/usr/bin/chromium
)
missing=()
for pkg in "${!probes[@]}"; do
  [ -e "${probes[$pkg]}" ] || missing+=("$pkg")
done
# qemu-system-data carries the microvm firmware (qboot); it comes with qemu-system-x86.
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" qemu-system-data >/dev/null
fi

# Nix builds as root run as unprivileged build users of the group `nixbld` (its default
# build-users-group). Debian's nix-bin leaves creating them to nix-setup-systemd, which needs a
# systemd user session; without them every flake build fails ("the group 'nixbld' ... does not
# exist"). The same users the upstream installer makes: no login, no home.
if ! getent group nixbld >/dev/null; then
  log "creating Nix's build users (group nixbld, nixbld1..nixbld8)"
  groupadd --system nixbld
fi
for i in 1 2 3 4 5 6 7 8; do
  if ! getent passwd "nixbld$i" >/dev/null; then
    useradd --system --no-create-home --home-dir /var/empty --shell /usr/sbin/nologin \
      --gid nixbld --groups nixbld --comment "Nix build user $i" "nixbld$i"
  fi
done

# npm dependencies: reinstall only when the lock file changed since the last install.
stamp=node_modules/.mvm-lock-hash
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing npm dependencies (better-sqlite3 compiles from source; this takes a few minutes)"
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# The compiled CLI bin/mvm runs (it falls back to the slower sources while dist/ is stale).
bash scripts/build.sh --if-stale

# The AssemblyScript job examples (docs/jobs.md): ABI v1 modules in examples/jobs/build/.
node_modules/.bin/tsx src/executor/sdk-build.ts examples/jobs/build \
  examples/jobs/assembly/counter.ts examples/jobs/assembly/fetch.ts >/dev/null
