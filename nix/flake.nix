# mvm's production guest images (seed 003): baseline + [role module] + [profile module].
# Needs nixpkgs (and a binary cache to be practical): it cannot be built on mvm's development
# host; see README.md for what is tested there instead.
{
  description = "mvm guest images: tenant-<role>-<profile> for mvm pool build";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      inherit (nixpkgs) lib;
      mkGuest = import ./lib/mk-guest.nix { inherit pkgs; };

      roles = {
        gateway = ./roles/gateway.nix;
        worker = ./roles/worker.nix;
        builder = ./roles/builder.nix;
      };
      profiles = {
        minimal = ./guests/profiles/minimal.nix;
        python = ./guests/profiles/python.nix;
      };

      # tenant-<role>-<profile>: what mvm builds when the flake has mvm-profiles.toml.
      roleAware = lib.concatMapAttrs (
        role: roleModule:
        lib.mapAttrs' (
          profile: profileModule:
          lib.nameValuePair "tenant-${role}-${profile}" (mkGuest {
            name = "${role}-${profile}";
            roleModules = [ roleModule ];
            guestModules = [ profileModule ];
          })
        ) profiles
      ) roles;

      # tenant-<profile>: legacy flakes without mvm-profiles.toml (no role module).
      legacy = lib.mapAttrs' (
        profile: profileModule:
        lib.nameValuePair "tenant-${profile}" (mkGuest {
          name = profile;
          guestModules = [ profileModule ];
        })
      ) profiles;
    in
    {
      packages.${system} = roleAware // legacy;

      # For tenant flakes: `mkGuest { roleModules = [ mvm.mvmModules.mvm-role-worker ]; ... }`.
      # They are modules of lib.evalModules (options under mvm.guest), not NixOS modules: mvm's
      # own init is PID 1 in every guest, so there is no systemd to configure.
      mvmModules = {
        mvm-baseline = ./guests/baseline.nix;
        mvm-role-gateway = ./roles/gateway.nix;
        mvm-role-worker = ./roles/worker.nix;
        mvm-role-builder = ./roles/builder.nix;
      };

      lib.mkGuest = mkGuest;
    };
}
