# mkGuest: evaluates baseline + role + profile modules and lays out what `mvm pool build`
# takes from a flake's output (src/drivers/image/nix-builder.ts):
#   vmlinux         the kernel, uncompressed (Firecracker boots no bzImage)
#   rootfs.ext4     the root filesystem, labelled `rootfs`, read-only in the guest
#   mvm-image.json  the workload (entrypoint, cmd, env, workingDir, user), when there is one
# No initrd: mvm's first stage mounts the rootfs and mvm's own init drive, and mvm's init
# (PID 1, from that drive) applies the role and starts the agent and the workload.
{ pkgs }:
{
  name,
  roleModules ? [ ],
  guestModules ? [ ],
  extraModules ? [ ],
}:
let
  inherit (pkgs) lib;
  evaluated = lib.evalModules {
    modules = [ ../guests/baseline.nix ] ++ roleModules ++ guestModules ++ extraModules;
    specialArgs = { inherit pkgs; };
  };
  cfg = evaluated.config.mvm.guest;

  failed = builtins.filter (a: !a.assertion) evaluated.config.assertions;
  checked =
    if failed == [ ] then
      cfg
    else
      throw "mvm guest ${name}: ${lib.concatMapStringsSep "; " (a: a.message) failed}";

  env = pkgs.buildEnv {
    name = "mvm-guest-${name}-env";
    paths = checked.packages;
    pathsToLink = [
      "/bin"
      "/sbin"
      "/lib"
      "/share"
    ];
  };

  etc = pkgs.runCommand "mvm-guest-${name}-etc" { } ''
    mkdir -p $out
    ${lib.concatStrings (
      lib.mapAttrsToList (path: text: ''
        mkdir -p "$out/$(dirname ${lib.escapeShellArg path})"
        cp ${pkgs.writeText "etc-file" text} "$out/"${lib.escapeShellArg path}
      '') checked.etc
    )}
  '';

  rootfs = pkgs.callPackage "${pkgs.path}/nixos/lib/make-ext4-fs.nix" {
    storePaths = [
      env
      etc
    ];
    volumeLabel = "rootfs";
    # mvm's mount points, /bin and /etc from the environment: the rest is the Nix store.
    populateImageCommands = ''
      mkdir -p ./files/{mvm,proc,sys,dev,run,tmp,data,root,etc/mvm-config}
      ln -s ${env}/bin ./files/bin
      ln -s ${env}/sbin ./files/sbin
      mkdir -p ./files/usr
      ln -s ${env}/bin ./files/usr/bin
      cp -rL ${etc}/. ./files/etc/
    '';
  };

  # mvm-image.json takes only the fields that are set (mvm refuses nulls there).
  workload = pkgs.writeText "mvm-image.json" (
    builtins.toJSON (lib.filterAttrs (_: v: v != null) checked.workload)
  );
in
pkgs.runCommand "mvm-guest-${name}" { } ''
  mkdir -p $out
  cp ${checked.kernel.dev}/vmlinux $out/vmlinux
  cp ${rootfs} $out/rootfs.ext4
  ${lib.optionalString (checked.workload != null) "cp ${workload} $out/mvm-image.json"}
''
