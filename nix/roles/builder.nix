# Role builder (seed 003): builds guest images with Nix inside a microVM. It gets no secrets
# drive (mvm never attaches one to a builder and the coordinator refuses a builder's node its
# pool's secrets): tenant build code runs here. Its workload is the Nix daemon over a store
# made writable on the data drive: the image's root, /nix included, is read-only, so /nix is
# an overlay whose upper layer is /data/nix (the builder's own, kept across sleeps).
{ lib, pkgs, ... }:
let
  start = pkgs.writeScript "mvm-builder-start" ''
    #!/bin/sh
    set -e
    mkdir -p /data/nix/upper /data/nix/work /data/tmp
    grep -q ' /nix overlay ' /proc/mounts ||
      mount -t overlay overlay \
        -o lowerdir=/nix,upperdir=/data/nix/upper,workdir=/data/nix/work /nix
    export TMPDIR=/data/tmp
    exec nix-daemon
  '';
in
{
  mvm.guest.role = "builder";
  mvm.guest.packages = [
    pkgs.nix
    pkgs.git
  ];
  mvm.guest.etc."nix/nix.conf" = ''
    experimental-features = nix-command flakes
    sandbox = true
    # No nixbld users in this image: the daemon builds as root, inside the sandbox, inside
    # the microVM (the isolation that matters is the VM's).
    build-users-group =
  '';
  mvm.guest.workload = {
    cmd = [ "${start}" ];
    env = [
      "NIX_CONF_DIR=/etc/nix"
      "PATH=/bin"
    ];
  };
}
