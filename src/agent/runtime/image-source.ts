import { ValidationError } from '../../core/errors.ts';
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
  cmdlineBase: string;
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
