import type { RunSpec } from '../contract/oci-image.ts';
import { canonicalJson } from './desired-doc.ts';
import type { PoolSource } from './pool-source.ts';
import type { RoleDriveSet } from './roles.ts';

/**
 * A revision: an immutable guest image a pool can run, recorded by `mvm pool build`. Its id is
 * the sha256 of its manifest's canonical JSON, and the manifest names every artifact by its
 * sha256, so the id is a hash over the artifacts: whoever holds the id can check a manifest
 * and every file it names without trusting where they came from. Pure: the hashing itself is
 * done by the caller (contract/revisions.ts), over the text this module fixes.
 */
export const REVISION_SCHEMA = 'mvm.revision/v1';

/** The built-in revision: each node's own dev image (the default of a pool never built). */
export const DEV_REVISION = 'dev';

export interface ArtifactRef {
  /** Lower-case hex sha256 of the file's bytes. */
  sha256: string;
  bytes: number;
}

export interface RevisionManifest {
  schema: typeof REVISION_SCHEMA;
  kernel: ArtifactRef;
  /** mvm's first stage (or the image's own); null: the kernel mounts the rootfs itself. */
  initrd: ArtifactRef | null;
  rootfs: ArtifactRef;
  rootfsFormat: 'ext4' | 'erofs';
  /** Kernel parameters of the image; the node appends the per-instance ones. */
  cmdline: string;
  /**
   * mvm's init and guest agent ride on a drive each node builds for itself (`node`), not in
   * the revision: a new agent changes no revision, and no image carries mvm's code.
   */
  initDrive: 'node';
  /**
   * What the guest's workload service runs (an OCI image's Entrypoint/Cmd, Env, WorkingDir,
   * User; a flake's mvm-image.json), and the run-spec drive (label `mvm-run`) that carries it
   * to the guest; both null for an image without a workload.
   */
  workload: RunSpec | null;
  runSpec: ArtifactRef | null;
  /**
   * The optional drives the pool's role gets with this revision, as the flake's
   * mvm-profiles.toml declares them (core/profiles.ts); absent, the role's own set
   * (core/roles.ts). Absent rather than null so revisions built before it keep their ids.
   */
  drives?: RoleDriveSet;
}

/** What a revision was built from, as the build found it (not as the pool says now). */
export type RevisionSource =
  | { kind: 'dev'; devImage: string }
  | { kind: 'oci'; ref: string; digest: string }
  | {
      kind: 'nix';
      flake: string;
      attribute: string;
      /** The flake source's NAR hash (nix flake metadata), null when nix did not say. */
      narHash: string | null;
      /** sha256 of the flake's flake.lock, null for a flake without one. */
      lockSha256: string | null;
    };

export interface Revision {
  tenantId: string;
  poolId: string;
  id: string;
  manifest: RevisionManifest;
  source: RevisionSource;
  /** The build log, an artifact like the others. */
  log: ArtifactRef | null;
  /** Who ran `mvm pool build`: `admin`, `token:<id>` (principal.ts's actor). */
  builtBy: string;
  buildMs: number;
  createdAt: string;
}

export const buildStatuses = ['running', 'succeeded', 'failed'] as const;
export type BuildStatus = (typeof buildStatuses)[number];

/** One run of `mvm pool build`: what it builds, how it went, and the revision it recorded. */
export interface Build {
  id: string;
  tenantId: string;
  poolId: string;
  status: BuildStatus;
  source: PoolSource;
  revisionId: string | null;
  error: string | null;
  log: ArtifactRef | null;
  startedBy: string;
  startedAt: string;
  finishedAt: string | null;
}

/** The text a revision id is the sha256 of. */
export function manifestText(manifest: RevisionManifest): string {
  return canonicalJson(manifest);
}

/** Every artifact a manifest names (what a node fetches before booting the revision). */
export function artifactsOf(manifest: RevisionManifest): ArtifactRef[] {
  return [
    manifest.kernel,
    ...(manifest.initrd ? [manifest.initrd] : []),
    manifest.rootfs,
    ...(manifest.runSpec ? [manifest.runSpec] : []),
  ];
}

/** Bytes a node holds for the revision. */
export function revisionBytes(manifest: RevisionManifest): number {
  return artifactsOf(manifest).reduce((sum, a) => sum + a.bytes, 0);
}

/** The pool's current revision, or the node's dev image when it has none yet. */
export function effectiveRevision(revision: string | null): string {
  return revision ?? DEV_REVISION;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function isRevisionId(value: string): boolean {
  return HEX64.test(value);
}
