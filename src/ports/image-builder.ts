import type { Role } from '../core/model.ts';
import type { PoolSource, PoolSourceKind } from '../core/pool-source.ts';
import type { RunSpec } from '../contract/oci-image.ts';
import type { RevisionSource } from '../core/revision.ts';
import type { RoleDriveSet } from '../core/roles.ts';

/**
 * Turns a pool's source into the files of a revision. One builder per kind of source
 * (drivers/image); the coordinator's build runner stores what they make and records it.
 */
export interface BuildContext {
  /** A scratch directory of this build, removed after it. */
  workDir: string;
  /** Appends a line to the build log (what `mvm pool build` shows as progress). */
  log(line: string): Promise<void>;
  /** Where tools append their own output (the same log). */
  logFile: string;
  /** Aborted when the build must stop (the coordinator is shutting down). */
  signal: AbortSignal;
}

export interface BuildInput {
  source: PoolSource;
  role: Role;
  /** The packed copy of a source on the caller's machine, uploaded by the CLI. */
  upload?: string;
}

/** What a build made, as files on this host (in the work dir or a cache). */
export interface BuiltImage {
  kernel: string;
  initrd: string | null;
  rootfs: string;
  cmdline: string;
  /** The workload and its run-spec drive (drivers/image/run-spec-drive.ts), if the image has one. */
  workload: { spec: RunSpec; drive: string } | null;
  source: RevisionSource;
  /** The role's drive set from the flake's mvm-profiles.toml, when it has one. */
  drives?: RoleDriveSet;
}

export interface ImageBuilder {
  build(input: BuildInput, context: BuildContext): Promise<BuiltImage>;
}

export type ImageBuilders = Readonly<Record<PoolSourceKind, ImageBuilder>>;
