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

/** Each sample by key: what the coordinator holds once a whole report is taken. */
export function samplesByKey<S extends SampleKeyed>(samples: readonly S[]): Map<string, S> {
  return new Map(samples.map((s) => [sampleKey(s), s]));
}

export interface SampleDelta<S> {
  /** Samples new or moved since the base. */
  changed: S[];
  /** Instances in the base and no longer sampled. */
  removed: SampleKeyed[];
}

/**
 * What to send on top of `held` (the samples the coordinator holds, by key): every current
 * sample that is new or `moved` from the held one (core/sample-tolerance.ts), and every key
 * gone; and `held` as the coordinator will hold it once the delta merges (a sample not sent
 * stays as it was held, so small drifts never add up unseen).
 */
export function diffSamples<S extends SampleKeyed>(
  held: ReadonlyMap<string, S>,
  current: readonly S[],
  moved: (held: S, now: S) => boolean,
): SampleDelta<S> & { held: Map<string, S> } {
  const next = new Map<string, S>();
  const changed: S[] = [];
  for (const s of current) {
    const key = sampleKey(s);
    const before = held.get(key);
    if (before === undefined || moved(before, s)) {
      changed.push(s);
      next.set(key, s);
    } else {
      next.set(key, before);
    }
  }
  const removed = [...held.keys()].filter((k) => !next.has(k)).map(keyParts);
  return { changed, removed, held: next };
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
