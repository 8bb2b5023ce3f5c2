#!/bin/sh
# mvm guest agent (busybox sh). Answers the host over the virtio-serial port named by $1
# (default mvm.agent), or with `--stdio` over its standard input and output (the vsock
# listener starts one per connection): one JSON request per line in, one response out.
# The request loop uses shell builtins only, because every fork costs milliseconds under TCG;
# `sync`, `mount`, `umount`, `rm` and the idle `sleep` are the only external commands.
# Protocol: src/contract/guest-protocol.ts.

PORT_NAME=${1:-mvm.agent}
STATE=${MVM_STATE_DIR:-/run/mvm}

# Instance parameters come from the kernel command line, set once at boot by the host.
read_params() {
  cmdline=
  [ -r /proc/cmdline ] && read -r cmdline </proc/cmdline
  HOST_NAME=
  HOST_IP=
  set -f # split the cmdline into words without globbing them
  for w in $cmdline; do
    case $w in
      mvm.hostname=*) HOST_NAME=${w#*=} ;;
      mvm.ip=*) HOST_IP=${w#*=} ;;
    esac
  done
  set +f
  # Keep what goes into JSON strings free of quotes and escapes.
  HOST_NAME=${HOST_NAME//[!A-Za-z0-9.-]/}
  HOST_IP=${HOST_IP%%/*}
  HOST_IP=${HOST_IP//[!0-9.]/}
}

# Sets PORT to /dev/vportNpM for the port whose name is $PORT_NAME; waits for the device.
find_port() {
  tries=0
  while [ "$tries" -lt 300 ]; do
    for f in /sys/class/virtio-ports/*/name; do
      [ -r "$f" ] || continue
      read -r n <"$f"
      if [ "$n" = "$PORT_NAME" ]; then
        d=${f%/name}
        PORT=/dev/${d##*/}
        [ -c "$PORT" ] && return 0
      fi
    done
    tries=$((tries + 1))
    sleep 0.1
  done
  return 1
}

# json_field LINE KEY: sets REPLY to the raw value (number or string without quotes).
json_field() {
  case $1 in
    *"\"$2\":\""*) v=${1#*\"$2\":\"}; REPLY=${v%%\"*} ;;
    *"\"$2\":"*) v=${1#*\"$2\":}; v=${v%%[,\}]*}; REPLY=${v// /} ;;
    *) REPLY= ;;
  esac
}

reply_ok() {
  if [ -n "$2" ]; then
    printf '{"id":%s,"ok":true,%s}\n' "$1" "$2"
  else
    printf '{"id":%s,"ok":true}\n' "$1"
  fi
}

status_fields() {
  up=0
  [ -r /proc/uptime ] && read -r up _ </proc/uptime
  c=0
  [ -r "$STATE/counter" ] && read -r c <"$STATE/counter"
  boot=
  [ -r /proc/sys/kernel/random/boot_id ] && read -r boot </proc/sys/kernel/random/boot_id
  r=0
  [ -r "$STATE/remounts" ] && read -r r <"$STATE/remounts"
  REPLY="\"uptime_s\":$up,\"counter\":${c:-0},\"hostname\":\"$HOST_NAME\",\"ip\":\"$HOST_IP\",\"boot_id\":\"$boot\",\"remounts\":${r:-0}"
}

# Secrets and config are rebuilt on the host for every wake. A drive whose digest (sent by the
# host) equals the one this guest holds has the same files in the same places: keep the mount.
# Otherwise drop the cached view of it. Mounting costs far more than the compare under TCG.
remount() {
  [ -r "$STATE/$1.dev" ] || return 0
  want=$3
  have=
  [ -r "$STATE/$1.digest" ] && read -r have <"$STATE/$1.digest"
  [ -n "$want" ] && [ "$want" = "$have" ] && return 0
  read -r dev <"$STATE/$1.dev"
  umount "$2" 2>/dev/null
  if mount -t ext4 -o ro "$dev" "$2" 2>/dev/null; then
    r=0
    [ -r "$STATE/remounts" ] && read -r r <"$STATE/remounts"
    echo $((r + 1)) >"$STATE/remounts"
  else
    echo "mvm-agent: remount of $1 failed" >/dev/console
    want=
  fi
  record_digest "$1" "$want"
}

# record_digest LABEL DIGEST: what is mounted now (an empty digest forgets it).
record_digest() {
  case $2 in
    *[!0-9a-f]* | '') rm -f "$STATE/$1.digest" ;;
    *) echo "$2" >"$STATE/$1.digest" ;;
  esac
}

# Leaves the counter on the data drive (if any) so the host can check what reached the disk.
record_sleep() {
  [ -r "$STATE/data.dev" ] || return 0
  c=0
  [ -r "$STATE/counter" ] && read -r c <"$STATE/counter"
  echo "$c" >/data/.mvm-last-sleep
}

on_wake() {
  json_field "$1" now
  case $REPLY in
    '' | *[!0-9]*) ;;
    *) date -s "@$REPLY" >/dev/null 2>&1 ;;
  esac
  json_field "$1" secrets
  remount secrets /run/secrets "$REPLY"
  json_field "$1" config
  remount config /etc/mvm-config "$REPLY"
}

# The host names the drives a fresh boot mounted, so the next wake can keep unchanged ones.
on_drives() {
  json_field "$1" secrets
  [ -r "$STATE/secrets.dev" ] && record_digest secrets "$REPLY"
  json_field "$1" config
  [ -r "$STATE/config.dev" ] && record_digest config "$REPLY"
}

handle() {
  # Hosts send compact JSON; also accept the `"key": value` spacing people type by hand.
  req=${1//\": /\":}
  json_field "$req" id
  id=$REPLY
  case $id in '' | *[!0-9]*) id=null ;; esac
  json_field "$req" op
  case $REPLY in
    ping) reply_ok "$id" '"ready":true' ;;
    status)
      status_fields
      reply_ok "$id" "$REPLY"
      ;;
    sleep-prep)
      record_sleep
      sync
      reply_ok "$id" '"drained":true'
      ;;
    wake)
      on_wake "$req"
      reply_ok "$id" ''
      ;;
    drives)
      on_drives "$req"
      reply_ok "$id" ''
      ;;
    *) printf '{"id":%s,"ok":false,"error":"unknown op"}\n' "$id" ;;
  esac
}

serve() {
  # One opener per port: a single fd carries both directions.
  exec 3<>"$PORT"
  echo "MVM-AGENT-READY port=$PORT" >/dev/console
  while :; do
    if IFS= read -r line <&3; then
      [ -n "$line" ] && handle "$line" >&3
    else
      # No host connected: the port reads EOF at once. Poll gently until one connects.
      sleep 0.05
    fi
  done
}

# One connection on stdin/stdout; ends when the host hangs up.
serve_stdio() {
  while IFS= read -r line; do
    [ -n "$line" ] && handle "$line"
  done
}

# Tests source the script to exercise `handle` on the host without a VM.
[ -n "${MVM_AGENT_SOURCE_ONLY:-}" ] && return 0

read_params
if [ "$PORT_NAME" = "--stdio" ]; then
  serve_stdio
  exit 0
fi
if ! find_port; then
  echo "mvm-agent: no virtio-serial port named $PORT_NAME" >/dev/console
  exit 1
fi
serve
