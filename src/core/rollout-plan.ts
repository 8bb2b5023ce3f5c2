import type { DesiredStatus, InstanceStatus } from './model.ts';

/**
 * The rollout planner: given a pool's instances and a rollout's settings, it names the next
 * step. Pure: the coordinator's rollout service reads the store, asks, and writes what it says.
 *
 * An instance is *replaced* by pinning it to the target revision (its node stops it and boots
 * it again on that revision). Canaries are the first replaced; nobody else is replaced until
 * every canary is ready. At most `maxUnavailable` replaced instances are not ready at any time.
 * A replaced instance that fails (its node reports it failed, its workload crash-loops, or it
 * is not ready within the deadline) halts the rollout: the caller rolls back.
 */
export interface RolloutSettings {
  /** The revision the pass moves instances to. */
  target: string;
  /** How many instances are replaced first, alone, and must be ready before any other. */
  canary: number;
  /** Replaced instances that may be not ready at once (at least 1). */
  maxUnavailable: number;
  /** How long a replaced instance may take to be ready before it counts as failed. */
  readyTimeoutMs: number;
  /** Workload restarts (on the target revision) that count as a crash loop. */
  maxRestarts: number;
  /**
   * How long a workload's current run must have lasted to count as ready: one that exits at
   * once is sampled `running` for a moment between its restarts.
   */
  stableMs: number;
  /** Whether sleeping instances are replaced too (their snapshot is discarded). */
  includeSleeping: boolean;
}

/** What the coordinator knows of one instance, from its record and its node's latest sample. */
export interface RolloutInstance {
  id: string;
  desiredStatus: DesiredStatus;
  status: InstanceStatus;
  /** Placed on a node: an unplaced instance boots on the pool's revision when it is placed. */
  placed: boolean;
  /** The revision its node last reported booting it with (null: never reported). */
  revision: string | null;
  /** The revision the rollout pinned it to, and when (ISO): null when not pinned. */
  pinnedRevision: string | null;
  pinnedAt: string | null;
  /** When its observed status last changed (ISO; null: unknown, long ago). */
  statusSince: string | null;
  /** The node's latest sample of it; absent when none arrived yet. */
  sample?: RolloutSample;
}

/** From the node's heartbeat: what the instance runs and how its workload is doing. */
export interface RolloutSample {
  status?: InstanceStatus;
  revision?: string;
  /** Absent when the image has no workload (or the guest did not say). */
  workload?: { state: string; restarts: number; runningForMs?: number };
}

export type RolloutHealth =
  { kind: 'ready' } | { kind: 'pending' } | { kind: 'failed'; reason: string };

export type RolloutStep =
  | { kind: 'replace'; ids: string[]; canary: boolean }
  | { kind: 'wait'; pending: string[]; canary: boolean }
  | { kind: 'failed'; id: string; reason: string; canary: boolean }
  | { kind: 'done' };

export interface RolloutProgressCounts {
  /** Instances the rollout covers. */
  total: number;
  /** Of those, ready on the target revision. */
  ready: number;
  /** Pinned to the target and not ready yet. */
  replacing: number;
}

/** Statuses a replaced instance settles in when it is up on its revision. */
const settled: ReadonlySet<InstanceStatus> = new Set(['running', 'warm', 'sleeping']);

/** The instances a rollout covers: placed, and meant to be up (sleeping ones when allowed). */
export function inScope(instance: RolloutInstance, settings: RolloutSettings): boolean {
  if (!instance.placed) return false;
  if (instance.desiredStatus === 'running' || instance.desiredStatus === 'warm') return true;
  return instance.desiredStatus === 'sleeping' && settings.includeSleeping;
}

/**
 * Whether an instance runs the target and is ready. Running means the guest agent answered
 * (the node reports `running` only then) and, when the image has a workload, that the node's
 * sample of this revision shows it running; warm and sleeping instances are judged by status.
 */
export function healthOf(
  instance: RolloutInstance,
  settings: RolloutSettings,
  now: number,
): RolloutHealth {
  if (instance.status === 'failed' && failedSincePin(instance)) {
    return { kind: 'failed', reason: 'its node reports it failed' };
  }
  const sample = instance.sample;
  const sampled = sample?.revision === settings.target ? sample : undefined;
  const restarts = sampled?.workload?.restarts ?? 0;
  if (restarts >= settings.maxRestarts) {
    return { kind: 'failed', reason: `its workload restarted ${restarts} times (crash loop)` };
  }
  if (isReady(instance, settings, sampled)) return { kind: 'ready' };
  const since = instance.pinnedAt === null ? undefined : Date.parse(instance.pinnedAt);
  if (since !== undefined && now - since > settings.readyTimeoutMs) {
    const secs = Math.round(settings.readyTimeoutMs / 1000);
    return { kind: 'failed', reason: `not ready on the new revision within ${secs}s` };
  }
  return { kind: 'pending' };
}

/** A failure from before the pin is the old revision's: the replacement may still cure it. */
function failedSincePin(instance: RolloutInstance): boolean {
  if (instance.pinnedAt === null || instance.statusSince === null) return false;
  return Date.parse(instance.statusSince) >= Date.parse(instance.pinnedAt);
}

function isReady(
  instance: RolloutInstance,
  settings: RolloutSettings,
  sampled: RolloutSample | undefined,
): boolean {
  if (instance.revision !== settings.target) return false;
  if (instance.status !== instance.desiredStatus || !settled.has(instance.status)) return false;
  if (instance.status !== 'running') return true;
  if (sampled === undefined || sampled.status !== 'running') return false;
  const workload = sampled.workload;
  if (workload === undefined) return true;
  // An agent that does not say how long the run lasted is taken at its word (older nodes).
  const stable = workload.runningForMs === undefined || workload.runningForMs >= settings.stableMs;
  return workload.state === 'running' && stable;
}

const byId = (a: RolloutInstance, b: RolloutInstance): number =>
  a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * The next step. `canariesDone` says the canaries were all ready once (the caller keeps it, so
 * a canary that is restarted later by something else does not send the rollout back).
 */
export function planRollout(
  instances: readonly RolloutInstance[],
  settings: RolloutSettings,
  now: number,
  canariesDone: boolean,
): RolloutStep {
  const scope = instances.filter((i) => inScope(i, settings)).sort(byId);
  const pinned = scope.filter((i) => i.pinnedRevision === settings.target);
  const health = new Map(pinned.map((i) => [i.id, healthOf(i, settings, now)]));
  const canaryPhase =
    settings.canary > 0 && !canariesDone && !canariesReady(instances, settings, now);
  for (const i of pinned) {
    const h = health.get(i.id);
    if (h?.kind === 'failed')
      return { kind: 'failed', id: i.id, reason: h.reason, canary: canaryPhase };
  }
  const pending = pinned.filter((i) => health.get(i.id)?.kind === 'pending').map((i) => i.id);
  const waiting = scope.filter(
    (i) => i.pinnedRevision !== settings.target && !onTarget(i, settings, now),
  );
  if (waiting.length === 0 && pending.length === 0) return { kind: 'done' };
  const canaries = Math.min(settings.canary, scope.length);
  const room = Math.max(0, settings.maxUnavailable - pending.length);
  if (canaryPhase) {
    const want = Math.min(canaries - pinned.length, room);
    if (want > 0 && waiting.length > 0) {
      return { kind: 'replace', ids: waiting.slice(0, want).map((i) => i.id), canary: true };
    }
    return { kind: 'wait', pending, canary: true };
  }
  if (room > 0 && waiting.length > 0) {
    return { kind: 'replace', ids: waiting.slice(0, room).map((i) => i.id), canary: false };
  }
  return { kind: 'wait', pending, canary: false };
}

/** Already ready on the target without being replaced (it booted the pool's new revision). */
function onTarget(instance: RolloutInstance, settings: RolloutSettings, now: number): boolean {
  return healthOf({ ...instance, pinnedAt: null }, settings, now).kind === 'ready';
}

/** Whether the canary phase is over: every canary pinned and ready (or none asked). */
export function canariesReady(
  instances: readonly RolloutInstance[],
  settings: RolloutSettings,
  now: number,
): boolean {
  const scope = instances.filter((i) => inScope(i, settings));
  const canaries = Math.min(settings.canary, scope.length);
  const ready = scope.filter(
    (i) => i.pinnedRevision === settings.target && healthOf(i, settings, now).kind === 'ready',
  );
  return ready.length >= canaries;
}

/** What `mvm pool info` shows of a pass. */
export function progressOf(
  instances: readonly RolloutInstance[],
  settings: RolloutSettings,
  now: number,
): RolloutProgressCounts {
  const scope = instances.filter((i) => inScope(i, settings));
  let ready = 0;
  let replacing = 0;
  for (const i of scope) {
    const h = healthOf(i, settings, now);
    if (h.kind === 'ready' && (i.pinnedRevision === settings.target || onTarget(i, settings, now)))
      ready += 1;
    else if (i.pinnedRevision === settings.target) replacing += 1;
  }
  return { total: scope.length, ready, replacing };
}

export const rolloutStates = ['running', 'rolling-back', 'done', 'rolled-back', 'failed'] as const;
export type RolloutState = (typeof rolloutStates)[number];

/** A rollout still acting on its pool. */
export function isActive(state: RolloutState): boolean {
  return state === 'running' || state === 'rolling-back';
}

/**
 * The revision a rollout in `state` moves (or moved) instances to: forwards `to`; backwards
 * `from`, which a rollout that turned back (and halted or ended there) keeps naming.
 */
export function targetOf(rollout: { state: RolloutState; from: string; to: string }): string {
  return rollout.state === 'running' || rollout.state === 'done' ? rollout.to : rollout.from;
}

/**
 * Where a rollout goes after a step: a failure going forwards turns it back to the previous
 * revision by itself; a failure going back halts it (nothing better to return to); a finished
 * pass ends it. Waiting and replacing leave it where it is.
 */
export function nextState(state: RolloutState, step: RolloutStep): RolloutState {
  if (!isActive(state)) return state;
  if (step.kind === 'failed') return state === 'running' ? 'rolling-back' : 'failed';
  if (step.kind === 'done') return state === 'running' ? 'done' : 'rolled-back';
  return state;
}

/** A pool's rollout as stored (one per pool: the latest). */
export interface Rollout {
  tenantId: string;
  poolId: string;
  state: RolloutState;
  /** The pool's revision when it started: where a rollback returns. */
  from: string;
  /** The revision asked for. */
  to: string;
  /** The revision before `from`, where a rollback goes once this one turned back (or null). */
  previous: string | null;
  canary: number;
  maxUnavailable: number;
  includeSleeping: boolean;
  readyTimeoutMs: number;
  /** Every canary was ready once: the batches may go on. */
  canariesDone: boolean;
  progress: RolloutProgressCounts;
  /** Why it turned back or halted; null while all goes well. */
  reason: string | null;
  startedBy: string;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  version: number;
}
