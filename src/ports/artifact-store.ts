import type { ArtifactRef } from '../core/revision.ts';

/**
 * Files named by the sha256 of their bytes: the coordinator's store of revision artifacts and
 * build logs, and each node's cache of what it fetched. Writes are temp + fsync + rename, so a
 * name always holds exactly the bytes it names.
 */
export interface ArtifactStore {
  /** Stores what the stream yields; refused (and nothing kept) past `maxBytes` or when its sha256 is not `expected`. */
  put(
    source: AsyncIterable<Uint8Array>,
    options?: { expected?: string; maxBytes?: number },
  ): Promise<ArtifactRef & { stored: boolean }>;
  /** Copies a file in (hashing it on the way). */
  putFile(path: string): Promise<ArtifactRef & { stored: boolean }>;
  /** The artifact's size, or undefined when the store does not have it. */
  stat(sha256: string): Promise<ArtifactRef | undefined>;
  /** Where the artifact's file is (for ranged reads and tools); it may not exist. */
  path(sha256: string): string;
  list(): Promise<Array<ArtifactRef & { mtimeMs: number }>>;
  remove(sha256: string): Promise<void>;
}
