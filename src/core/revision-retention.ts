import { artifactsOf, type RevisionManifest } from './revision.ts';

/**
 * Which of the coordinator's stored artifacts are garbage. Pure: the caller lists the store and
 * the revisions still recorded (a destroyed pool's revisions go with it); this decides.
 *
 * Kept: every artifact a recorded revision names (its kernel, initrd, rootfs, run-spec drive
 * and build log), and anything younger than `graceMs` (a build stores its artifacts before it
 * records the revision that names them). Removed: the rest, i.e. what only revisions of
 * destroyed pools named.
 */
export interface StoredArtifact {
  sha256: string;
  bytes: number;
  mtimeMs: number;
}

export interface RecordedRevision {
  manifest: RevisionManifest;
  log: { sha256: string } | null;
}

export const ARTIFACT_GRACE_MS = 60 * 60 * 1000;

export function unreferencedArtifacts(
  stored: readonly StoredArtifact[],
  revisions: readonly RecordedRevision[],
  nowMs: number,
  graceMs = ARTIFACT_GRACE_MS,
): StoredArtifact[] {
  const named = new Set<string>();
  for (const r of revisions) {
    for (const a of artifactsOf(r.manifest)) named.add(a.sha256);
    if (r.log) named.add(r.log.sha256);
  }
  return stored.filter((a) => !named.has(a.sha256) && nowMs - a.mtimeMs > graceMs);
}

/**
 * Which uploads (packed sources a CLI sent for a build) are garbage: a build removes its upload
 * once it is over, so one still stored was never built from (a `pool build` that stopped
 * between its upload and its start) or outlived a crash. Pure: the caller skips this while a
 * build runs; `graceMs` covers the moment between an upload and the build that uses it.
 */
export function unusedUploads(
  stored: readonly StoredArtifact[],
  nowMs: number,
  graceMs = ARTIFACT_GRACE_MS,
): StoredArtifact[] {
  return stored.filter((u) => nowMs - u.mtimeMs > graceMs);
}
