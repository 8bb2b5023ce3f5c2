/**
 * Drive images for an instance, built with `mkfs.ext4 -d` (no mounts, no loop devices).
 * rootfs is shared per revision and read-only; data persists for the instance's life;
 * secrets are rebuilt on every start and wake (0600 on the host, read-only in the guest);
 * config is versioned and read-only.
 */
export interface DriveFiles {
  data?: string;
  secrets?: string;
  config?: string;
}

/** A rebuilt read-only image: equal files give equal bytes, hence an equal digest. */
export interface BuiltDrive {
  path: string;
  /** sha256 of the image bytes, hex: lets the guest skip remounting an unchanged drive. */
  digest: string;
}

/** A read-only image whose file exists at `path` already, its content still being written. */
export interface PendingDrive extends BuiltDrive {
  /** Settles once the content is complete: nothing may read the image before. */
  written: Promise<void>;
}

export interface Drives {
  /** Creates the data image once (idempotent: an existing image is kept as it is). */
  ensureData(instanceDir: string, sizeMib: number): Promise<string>;
  /**
   * A clone's first data image: a copy of its pool base's (the disk the base's RAM last saw,
   * docs/clones.md). Never touches an existing image; returns whether it made one.
   */
  seedData?(instanceDir: string, template: string): Promise<boolean>;
  /** Whether the instance has its data image yet (a first boot has none). */
  hasData?(instanceDir: string): Promise<boolean>;
  /** Writes a fresh secrets image from name → value; replaces the previous one atomically. */
  buildSecrets(instanceDir: string, secrets: Record<string, string>): Promise<BuiltDrive>;
  /**
   * Like `buildSecrets`, but returns once the file exists at its final path and size, and
   * writes its content into that same file in the background (`written`): a wake hands the
   * path to the restoring VMM meanwhile and resumes the guest only after `written`.
   */
  layoutSecrets?(instanceDir: string, secrets: Record<string, string>): Promise<PendingDrive>;
  /** Writes config version `version` (files name → content). */
  buildConfig(
    instanceDir: string,
    version: string,
    files: Record<string, string>,
  ): Promise<BuiltDrive>;
  /** Deletes every drive of the instance. */
  removeAll(instanceDir: string): Promise<void>;
}
