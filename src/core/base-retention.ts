/**
 * When a node drops a pool base on its own (docs/clones.md), decided from values. A base
 * serves one pool revision (its tenant/pool scope and the image revision it was made from). It
 * is in use while an instance of that pool and revision lives on the node; from the first pass
 * that finds it unused, it is kept for a grace period (an instance scaled away and back, or a
 * move coming in, clones from it again), and dropped once unused for that long. A base whose
 * use cannot be told (an instance's revision did not resolve) counts as used.
 */
export const DEFAULT_BASE_GRACE_MS = 600_000;

export interface BaseSeen {
  key: string;
  /** `tenant/pool`. */
  scope: string;
  /** The image revision it was made from. */
  revision: string;
}

export interface BaseRetentionInput {
  bases: readonly BaseSeen[];
  /** `tenant/pool revision` of every instance living on the node. */
  used: ReadonlySet<string>;
  /** Pools (`tenant/pool`) with an instance whose revision could not be told: all kept. */
  unsure: ReadonlySet<string>;
  /** When each base was first found unused, by key (the previous pass's answer). */
  unusedSince: ReadonlyMap<string, number>;
  now: number;
  graceMs: number;
}

export interface BaseRetention {
  /** Keys of bases unused for the whole grace period. */
  collect: string[];
  /** Carried to the next pass: bases unused and still within their grace. */
  unusedSince: Map<string, number>;
}

export const useOf = (scope: string, revision: string) => `${scope} ${revision}`;

export function planBaseRetention(input: BaseRetentionInput): BaseRetention {
  const collect: string[] = [];
  const unusedSince = new Map<string, number>();
  for (const base of input.bases) {
    if (input.used.has(useOf(base.scope, base.revision)) || input.unsure.has(base.scope)) continue;
    const since = input.unusedSince.get(base.key) ?? input.now;
    if (input.now - since >= input.graceMs) collect.push(base.key);
    else unusedSince.set(base.key, since);
  }
  return { collect: collect.sort(), unusedSince };
}

/** The image revision a base was made from: the first word of its image digest. */
export function baseRevision(imageDigest: string): string {
  return imageDigest.split(' ')[0] ?? imageDigest;
}
