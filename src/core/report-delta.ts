/**
 * Delta heartbeats (docs/scale.md, "Delta heartbeats"): what an agent sends of its
 * instances' samples when the coordinator already holds its last report, and the decision of
 * when a whole report is due. Pure: the agent's ReportDeltas keeps the state, the store
 * merges.
 */

/** The fields that name a sample's instance. */
export interface SampleKeyed {
  tenant: string;
  pool: string;
  instance: string;
}

/** `tenant/pool/instance`: a sample's key in the stored report. */
export function sampleKey(s: SampleKeyed): string {
  return `${s.tenant}/${s.pool}/${s.instance}`;
}

/** The key's parts back (the inverse of sampleKey: ids hold no '/'). */
export function keyParts(key: string): SampleKeyed {
  const [tenant = '', pool = '', instance = ''] = key.split('/');
  return { tenant, pool, instance };
}

/** Each sample by key, serialized: what a delta is compared against. */
export function serializeSamples<S extends SampleKeyed>(
  samples: readonly S[],
): Map<string, string> {
  return new Map(samples.map((s) => [sampleKey(s), JSON.stringify(s)]));
}

export interface SampleDelta<S> {
  /** Samples new or different (any field) since the base. */
  changed: S[];
  /** Instances in the base and no longer sampled. */
  removed: SampleKeyed[];
}

/**
 * What changed from `base` (serializeSamples of the last accepted report) to `current`
 * (serialized as `serialized`): every sample whose serialization differs, and every key gone.
 */
export function diffSamples<S extends SampleKeyed>(
  base: ReadonlyMap<string, string>,
  current: readonly S[],
  serialized: ReadonlyMap<string, string>,
): SampleDelta<S> {
  const changed = current.filter((s) => {
    const key = sampleKey(s);
    return base.get(key) !== serialized.get(key);
  });
  const removed = [...base.keys()].filter((k) => !serialized.has(k)).map(keyParts);
  return { changed, removed };
}

/**
 * The report a delta leaves: `base` with `removed` taken out and `changed` put in (replacing
 * whole samples), ordered by key as the store returns it.
 */
export function mergeSamples<S extends SampleKeyed>(
  base: readonly S[],
  delta: SampleDelta<S>,
): S[] {
  const byKey = new Map(base.map((s) => [sampleKey(s), s]));
  for (const r of delta.removed) byKey.delete(sampleKey(r));
  for (const s of delta.changed) byKey.set(sampleKey(s), s);
  return sortSamples([...byKey.values()]);
}

/** By key, so a report reads the same from either store whatever order it was written in. */
export function sortSamples<S extends SampleKeyed>(samples: S[]): S[] {
  return samples
    .map((s) => [sampleKey(s), s] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, s]) => s);
}

export interface FullReportPolicy {
  /** A whole report at least every this many accepted beats (default 12: a minute at 5 s). */
  everyBeats: number;
  /** And at least this often (default 60 s). */
  everyMs: number;
}

export const DEFAULT_FULL_REPORT: FullReportPolicy = { everyBeats: 12, everyMs: 60_000 };

export interface ReportState {
  /** The coordinator asked for one, or the agent holds no accepted report to build on. */
  wanted: boolean;
  /** Deltas accepted since the last accepted whole report. */
  deltasSinceFull: number;
  /** When the last whole report was accepted (ms), or undefined. */
  fullAcceptedAt: number | undefined;
}

/** Whether the next report goes whole. */
export function fullReportDue(state: ReportState, now: number, policy: FullReportPolicy): boolean {
  if (state.wanted || state.fullAcceptedAt === undefined) return true;
  if (state.deltasSinceFull + 1 >= policy.everyBeats) return true;
  return now - state.fullAcceptedAt >= policy.everyMs;
}
