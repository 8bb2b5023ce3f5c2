import { effectiveRevision } from './revision.ts';
import { ValidationError } from './errors.ts';
import type { Instance } from './model.ts';

/**
 * What `mvm pool gc` collects in one pool, decided from its instance records. Pure.
 *
 * Stopped instances: the materializer stops the instances a scale-down leaves over, keeping
 * their identity and data disk so a later scale-up reuses them first. Past a retention they
 * are destroyed (through the normal desired-status path; the caller does that). Retention is
 * either the `keep` most recently stopped, or those stopped for less than `olderThanSecs`.
 *
 * Revisions: the coordinator records only a pool's current revision and the one each
 * instance was created with; it keeps no history of a pool's revisions, so there is nothing
 * to forget beyond the instances themselves. The plan says which revisions live instances
 * still run, and which of them are older than the pool's.
 */
export type Retention = { keep: number } | { olderThanSecs: number };

export const DEFAULT_RETENTION: Retention = { keep: 2 };

export type GcInstance = Pick<
  Instance,
  'id' | 'status' | 'desiredStatus' | 'statusSince' | 'updatedAt' | 'revision' | 'version'
>;

export interface StoppedInstance {
  id: string;
  status: Instance['status'];
  /** When it stopped (its status last changed; its last update when unknown). */
  since: string;
  version: number;
}

export interface RevisionUse {
  /** null: created before the pool had a built revision (the dev image). */
  revision: string | null;
  instances: number;
  current: boolean;
}

export interface PoolGcPlan {
  destroy: StoppedInstance[];
  keep: StoppedInstance[];
  revisions: {
    current: string | null;
    inUse: RevisionUse[];
    /** Always false today: see the module comment. */
    history: false;
  };
}

const sinceOf = (i: GcInstance): string => i.statusSince ?? i.updatedAt;

/** Newest stop first; ties by id so the plan never depends on input order. */
function newestFirst(a: StoppedInstance, b: StoppedInstance): number {
  return Date.parse(b.since) - Date.parse(a.since) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function checkRetention(retention: Retention): void {
  const value = 'keep' in retention ? retention.keep : retention.olderThanSecs;
  if (!Number.isInteger(value) || value < 0) {
    const problem = `retention must be a whole number of instances or seconds, got ${String(value)}`;
    throw new ValidationError(problem, [problem]);
  }
}

function revisionsOf(instances: readonly GcInstance[], current: string | null): RevisionUse[] {
  const counts = new Map<string | null, number>();
  for (const i of instances) counts.set(i.revision, (counts.get(i.revision) ?? 0) + 1);
  return [...counts.entries()]
    .map(([revision, n]) => ({
      revision,
      instances: n,
      // An instance created before the pool was built runs `dev`, as a pool with no revision.
      current: effectiveRevision(revision) === effectiveRevision(current),
    }))
    .sort((a, b) => Number(b.current) - Number(a.current) || b.instances - a.instances);
}

export function planPoolGc(
  instances: readonly GcInstance[],
  options: { retention: Retention; nowMs: number; poolRevision: string | null },
): PoolGcPlan {
  checkRetention(options.retention);
  const live = instances.filter((i) => i.status !== 'destroyed' && i.desiredStatus !== 'destroyed');
  const stopped = live
    .filter((i) => i.desiredStatus === 'stopped')
    .map((i) => ({ id: i.id, status: i.status, since: sinceOf(i), version: i.version }))
    .sort(newestFirst);
  const retention = options.retention;
  const kept =
    'keep' in retention
      ? (s: StoppedInstance, index: number) => index < retention.keep
      : (s: StoppedInstance) =>
          options.nowMs - Date.parse(s.since) < retention.olderThanSecs * 1000;
  const destroy = stopped.filter((s, index) => !kept(s, index));
  const gone = new Set(destroy.map((s) => s.id));
  return {
    destroy,
    keep: stopped.filter((s, index) => kept(s, index)),
    revisions: {
      current: options.poolRevision,
      inUse: revisionsOf(
        live.filter((i) => !gone.has(i.id)),
        options.poolRevision,
      ),
      history: false,
    },
  };
}
