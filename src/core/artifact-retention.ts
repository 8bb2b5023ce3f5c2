/**
 * Which image-cache entries a node still needs, and which are garbage. Pure: the caller lists
 * the cache (drivers/dev-image/cache-entries.ts) and says what is in use; this decides.
 *
 * Kept: the image the agent boots from now, every image a running VMM was started from (its
 * command line names files in it), and what those images are built from (their kernel and
 * init drive); the newest guest-agent build; the builders' memo. When the agent has resolved
 * no image yet, the newest image stands in for it, so collecting never forces a rebuild at
 * the next boot. Removed: every other image, init drive, kernel and guest-agent build, index
 * files that point at a removed or missing image, and staging dirs older than `stagingAgeMs`
 * (a builder still writing one is younger).
 */
export type ArtifactKind = 'kernel' | 'init-drive' | 'guest-agent' | 'image' | 'other';

export interface ArtifactEntry {
  kind: ArtifactKind;
  name: string;
  path: string;
  bytes: number;
  mtimeMs: number;
  uses?: { kernel?: string; initDrive?: string };
  role?: 'staging' | 'index' | 'memo';
  pointsTo?: string;
}

export interface ArtifactsInUse {
  /** The revision the agent resolved for its boots; undefined before its first. */
  current?: string;
  /** Paths of files live VMMs were started with (any of them may be inside the cache). */
  paths: readonly string[];
}

export interface ArtifactDecision {
  remove: ArtifactEntry[];
  keep: ArtifactEntry[];
}

export const STAGING_AGE_MS = 60 * 60 * 1000;

const newest = (entries: readonly ArtifactEntry[]): ArtifactEntry | undefined =>
  [...entries].sort((a, b) => b.mtimeMs - a.mtimeMs || a.name.localeCompare(b.name))[0];

const holds = (entry: ArtifactEntry, paths: readonly string[]): boolean =>
  paths.some((path) => path === entry.path || path.startsWith(`${entry.path}/`));

function keptImages(entries: readonly ArtifactEntry[], inUse: ArtifactsInUse): Set<string> {
  const images = entries.filter((e) => e.kind === 'image');
  const kept = new Set(images.filter((e) => holds(e, inUse.paths)).map((e) => e.name));
  if (inUse.current !== undefined) kept.add(inUse.current);
  else {
    const fallback = newest(images);
    if (fallback) kept.add(fallback.name);
  }
  return kept;
}

export function decideArtifacts(
  entries: readonly ArtifactEntry[],
  inUse: ArtifactsInUse,
  nowMs: number,
  stagingAgeMs = STAGING_AGE_MS,
): ArtifactDecision {
  const images = keptImages(entries, inUse);
  const usedBy = entries.filter((e) => e.kind === 'image' && images.has(e.name));
  const kernels = new Set(usedBy.map((e) => e.uses?.kernel));
  const drives = new Set(usedBy.map((e) => e.uses?.initDrive));
  const agent = newest(entries.filter((e) => e.kind === 'guest-agent'))?.name;
  const keep = (e: ArtifactEntry): boolean => {
    if (holds(e, inUse.paths)) return true;
    switch (e.kind) {
      case 'image':
        return images.has(e.name);
      case 'kernel':
        return kernels.has(e.name);
      case 'init-drive':
        return drives.has(e.name);
      case 'guest-agent':
        return e.name === agent;
      case 'other':
        if (e.role === 'staging') return nowMs - e.mtimeMs < stagingAgeMs;
        if (e.role === 'index') return e.pointsTo !== undefined && images.has(e.pointsTo);
        return true;
    }
  };
  return { keep: entries.filter(keep), remove: entries.filter((e) => !keep(e)) };
}
