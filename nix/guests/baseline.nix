# Every mvm guest: the options the role and profile modules set, a kernel that boots under
# mvm's first stage with no modules to load, and the least a root needs (busybox, /etc). mvm's
# init and guest agent are NOT here: they ride on mvm's own read-only drive, mounted at /mvm,
# so a new agent changes no image (docs/guest-protocol.md).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  workloadType = types.submodule {
    options = {
      entrypoint = mkOption { type = types.nullOr (types.listOf types.str); default = null; };
      cmd = mkOption { type = types.nullOr (types.listOf types.str); default = null; };
      env = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
        description = "NAME=value entries, as an OCI image config's Env.";
      };
      workingDir = mkOption { type = types.nullOr types.str; default = null; };
      user = mkOption { type = types.nullOr types.str; default = null; };
    };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf (types.submodule {
        options.assertion = mkOption { type = types.bool; };
        options.message = mkOption { type = types.str; };
      });
      default = [ ];
    };

    mvm.guest = {
      role = mkOption {
        type = types.nullOr (types.enum [ "gateway" "worker" "builder" "capability-imessage" ]);
        default = null;
        description = ''
          The role this image is built for. Informational: the role an instance runs as is its
          pool's, passed by the agent as mvm.role= on the kernel command line, where mvm's init
          reads it (a gateway forwards IPv4 and applies /etc/mvm-config/gateway.json).
        '';
      };
      kernel = mkOption {
        type = types.package;
        description = "The guest kernel; mkGuest copies its uncompressed vmlinux.";
      };
      packages = mkOption {
        type = types.listOf types.package;
        default = [ ];
        description = "Linked into /bin of the guest's root.";
      };
      etc = mkOption {
        type = types.attrsOf types.lines;
        default = { };
        description = "Files under /etc of the guest's root, by path below /etc.";
      };
      workload = mkOption {
        type = types.nullOr workloadType;
        default = null;
        description = ''
          The guest's process (mvm-image.json): mvm's init runs it as a service, restarted on
          failure, its output in `mvm instance logs`. None: the guest runs only mvm's agent.
        '';
      };
    };
  };

  config.mvm.guest = {
    # Everything mvm's first stage needs is built in: it cannot load modules for a kernel
    # other than the dev image's (it tries, says so on the console, and goes on).
    kernel = lib.mkDefault (
      pkgs.linux_6_6.override {
        # mkForce: nixpkgs' common config sets several of these to modules.
        structuredExtraConfig = lib.mapAttrs (_: lib.mkForce) (with lib.kernel; {
          VIRTIO = yes;
          VIRTIO_PCI = yes;
          VIRTIO_MMIO = yes;
          VIRTIO_BLK = yes;
          VIRTIO_NET = yes;
          VIRTIO_CONSOLE = yes;
          VIRTIO_VSOCKETS = yes;
          VSOCKETS = yes;
          EXT4_FS = yes;
          OVERLAY_FS = yes;
          BLK_DEV_INITRD = yes;
        });
      }
    );
    packages = [ pkgs.pkgsStatic.busybox ];
    etc = {
      "passwd" = ''
        root:x:0:0:root:/root:/bin/sh
        nobody:x:65534:65534:nobody:/:/bin/false
      '';
      "group" = ''
        root:x:0:
        nogroup:x:65534:
      '';
      "nsswitch.conf" = ''
        passwd: files
        group: files
        hosts: files dns
      '';
    };
  };
}
