import { ValidationError } from '../../core/errors.ts';
import { isRevisionId } from '../../core/revision.ts';
import type { RoleDriveSet } from '../../core/roles.ts';
import type { CachedRevision } from '../artifacts/revision-cache.ts';
import type { DevImage } from '../../drivers/dev-image/build-dev-image.ts';

/** A bootable guest image revision, resolved to files on this host. */
export interface GuestImage {
  revision: string;
  kernelPath: string;
  initrdPath?: string;
  /** Read-only root filesystem shared by every instance of the revision, if the image has one. */
  rootfsPath?: string;
  /** mvm's read-only drive (init, guest agent), mounted at /mvm beside the image's root. */
  initDrivePath?: string;
  /**
   * The revision's run-spec drive (label `mvm-run`: the image's process, Env, WorkingDir,
   * User), mounted at /mvm/run; absent, the guest runs no workload service.
   */
  runSpecPath?: string;
  cmdlineBase: string;
  /** The revision's declared drive set (its mvm-profiles.toml); absent, the role's own. */
  drives?: RoleDriveSet;
}

export interface ImageSource {
  resolve(revision: string): Promise<GuestImage>;
  /** The image the last resolve gave, without resolving anything (garbage collection keeps it). */
  current?(): GuestImage | undefined;
}

/**
 * Hosts without Nix run the dev image: revision `dev` or the dev image's own hash. Its
 * initramfs mounts the rootfs drive by label, as the guest mounts data/secrets/config, so
 * drive order does not matter.
 */
export function devImageSource(load: () => Promise<DevImage>): ImageSource {
  let image: Promise<DevImage> | undefined;
  let resolved: GuestImage | undefined;
  return {
    current: () => resolved,
    async resolve(revision) {
      image ??= load();
      const dev = await image;
      if (revision !== 'dev' && revision !== dev.revision) {
        throw new ValidationError(
          `image revision '${revision}' is not on this host; it only has the dev image (${dev.revision}); build the revision with nix or use revision 'dev'`,
        );
      }
      resolved = {
        revision: dev.revision,
        kernelPath: dev.vmlinux,
        initrdPath: dev.initrd,
        rootfsPath: dev.rootfs,
        initDrivePath: dev.initDrive,
        cmdlineBase: dev.cmdlineBase,
      };
      return resolved;
    },
  };
}

/**
 * A root filesystem built from a workload's image (an OCI image today: see
 * drivers/image/oci-rootfs.ts), with its run-spec drive.
 */
export interface WorkloadRootfs {
  rootfsPath: string;
  runSpecPath: string;
}

/**
 * Revisions whose root filesystem is a built workload image boot the base image's kernel,
 * initramfs and mvm's init drive (the initramfs mounts any drive labelled `rootfs`, so the
 * image needs nothing of mvm's) with that rootfs and its run-spec drive. `lookup` maps a
 * revision to its files on this host (the revisions' artifact store does; tests use a Map);
 * a revision it does not know goes to the base source.
 */
export function workloadImageSource(
  base: ImageSource,
  lookup: (revision: string) => Promise<WorkloadRootfs | undefined>,
): ImageSource {
  let resolved: GuestImage | undefined;
  return {
    current: () => resolved ?? base.current?.(),
    async resolve(revision) {
      const workload = await lookup(revision);
      if (!workload) {
        resolved = await base.resolve(revision);
        return resolved;
      }
      const kernel = await base.resolve('dev');
      resolved = {
        revision,
        kernelPath: kernel.kernelPath,
        ...(kernel.initrdPath ? { initrdPath: kernel.initrdPath } : {}),
        ...(kernel.initDrivePath ? { initDrivePath: kernel.initDrivePath } : {}),
        rootfsPath: workload.rootfsPath,
        runSpecPath: workload.runSpecPath,
        cmdlineBase: kernel.cmdlineBase,
      };
      return resolved;
    },
  };
}

/** What a revision source needs of the node's cache (agent/artifacts/revision-cache.ts). */
export interface RevisionFiles {
  ensure(id: string): Promise<CachedRevision>;
}

/**
 * Revisions `mvm pool build` recorded (ids: 64 hex digits) boot from their own artifacts,
 * fetched into this node's cache and checked by hash, with mvm's init drive from the node's
 * base image (no revision carries mvm's code); `dev` and the dev image's hash go to `base`.
 */
export function revisionImageSource(base: ImageSource, files: RevisionFiles): ImageSource {
  let resolved: GuestImage | undefined;
  return {
    current: () => resolved ?? base.current?.(),
    async resolve(revision) {
      if (!isRevisionId(revision)) {
        resolved = await base.resolve(revision);
        return resolved;
      }
      const cached = await files.ensure(revision);
      const { manifest } = cached;
      const node = await base.resolve('dev');
      resolved = {
        revision,
        kernelPath: cached.path(manifest.kernel),
        ...(manifest.initrd ? { initrdPath: cached.path(manifest.initrd) } : {}),
        rootfsPath: cached.path(manifest.rootfs),
        ...(node.initDrivePath ? { initDrivePath: node.initDrivePath } : {}),
        ...(manifest.runSpec ? { runSpecPath: cached.path(manifest.runSpec) } : {}),
        cmdlineBase: manifest.cmdline,
        ...(manifest.drives ? { drives: manifest.drives } : {}),
      };
      return resolved;
    },
  };
}
