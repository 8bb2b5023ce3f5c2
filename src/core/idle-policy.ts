import { ValidationError } from './errors.ts';
import type { DesiredStatus, InstanceStatus } from './model.ts';
import { MAX_SLEEP_POLICY_SECS, toMs, type SleepPolicy } from './sleep-policy.ts';

/**
 * A pool's idle policy: an instance idle this many seconds goes warm (paused), then sleeping
 * (snapshotted, stopped). 0 turns a step off. Idle is judged from the host's signals (the
 * node's lastActiveAt: cgroup CPU, tap bytes) and the guest's drain answer.
 */
export interface IdlePolicy {
  idleWarmAfterSecs: number;
  idleSleepAfterSecs: number;
}

export const noIdlePolicy: Readonly<IdlePolicy> = { idleWarmAfterSecs: 0, idleSleepAfterSecs: 0 };

/**
 * The least time an instance stays running after it was created or woken, whatever the pool
 * asks: a woken guest under TCG takes seconds to answer the connection it was woken for, and
 * that half-open flow shows as no activity yet (kernel/hypeman#312). The pool's
 * minRunningSecs lengthens it.
 */
export const IDLE_MIN_AWAKE_SECS = 15;

/** The slots an idle step may lower: the status the pool's counts give the instance. */
export const idleSlots = ['running', 'warm'] as const;
export type IdleSlot = (typeof idleSlots)[number];

export function idlePolicyProblems(policy: IdlePolicy): string[] {
  const problems = (['idleWarmAfterSecs', 'idleSleepAfterSecs'] as const).flatMap((name) => {
    const value = policy[name];
    if (Number.isInteger(value) && value >= 0 && value <= MAX_SLEEP_POLICY_SECS) return [];
    return [`${name} must be an integer from 0 (off) to ${MAX_SLEEP_POLICY_SECS}, got ${value}`];
  });
  const { idleWarmAfterSecs: warm, idleSleepAfterSecs: sleep } = policy;
  if (problems.length === 0 && warm > 0 && sleep > 0 && sleep <= warm) {
    problems.push(
      `idleSleepAfterSecs (${sleep}) must be longer than idleWarmAfterSecs (${warm}): an idle instance goes warm first, then to sleep`,
    );
  }
  return problems;
}

export function validateIdlePolicy<T extends IdlePolicy>(policy: T): T {
  const problems = idlePolicyProblems(policy);
  if (problems.length > 0) {
    throw new ValidationError(`invalid idle policy: ${problems.join('; ')}`, problems);
  }
  return policy;
}

export interface IdleCandidate {
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
  /** The slot the idle policy holds the instance below; null when it is where its slot is. */
  idleSlot: IdleSlot | null;
  createdAt: string;
  statusSince: string | null;
  lastActiveAt: string | null;
  pressureSleptAt: string | null;
  sleepForced?: boolean;
  /** The guest refused the idle sleep (busy past the drain deadline): it is doing something. */
  guestBusy: boolean;
  /**
   * Whether its node arms the wake trap for the instances it lowers (agent/wake; its
   * heartbeats say so). Only asked of pools with service ports: a paused or sleeping instance
   * answers no connection, so one whose connections would not wake it is never lowered.
   */
  wakeArmed?: boolean;
}

export type IdleVerdict =
  /** Lower the desired status to `to`; the instance keeps holding `slot`. */
  | { kind: 'lower'; to: 'warm' | 'sleeping'; slot: IdleSlot }
  /** Put it back in its slot: the guest said it is busy, which counts as activity. */
  | { kind: 'restore'; slot: IdleSlot }
  /** Nothing now; `recheckAt` (epoch ms) is when the next step may fall due, if any. */
  | { kind: 'keep'; recheckAt?: number };

const KEEP: IdleVerdict = { kind: 'keep' };

/**
 * The idle step for one instance at `nowMs`. Hysteresis by construction: the policy only ever
 * lowers an instance; only a wake (an operator, a session, a connection) raises it, and a wake
 * starts a minimum-awake window. The one exception is a guest that refused the sleep as busy:
 * it goes back to its slot with the refusal counted as activity, so it is not asked again
 * before a whole idle period. An instance is judged only when settled (observed = desired),
 * never mid-move, and one whose pool serves ports only while its node has the wake trap armed.
 */
export function idleVerdict(
  policy: IdlePolicy & SleepPolicy & { servicePorts?: readonly number[] },
  instance: IdleCandidate,
  nowMs: number,
): IdleVerdict {
  if (policy.idleWarmAfterSecs === 0 && policy.idleSleepAfterSecs === 0) return KEEP;
  const served = (policy.servicePorts?.length ?? 0) > 0;
  if (served && instance.wakeArmed !== true && instance.idleSlot === null) return KEEP;
  if (instance.pressureSleptAt !== null || instance.sleepForced === true) return KEEP;
  const slot = instance.idleSlot ?? instance.desiredStatus;
  if (slot !== 'running' && slot !== 'warm') return KEEP;
  if (instance.idleSlot !== null && instance.guestBusy && instance.status === 'running') {
    return { kind: 'restore', slot: instance.idleSlot };
  }
  if (instance.status !== instance.desiredStatus) return KEEP;
  const current = instance.desiredStatus;
  if (current !== 'running' && current !== 'warm') return KEEP;
  const idleFrom = idleSince(policy, instance);
  const notBefore = windowEnd(policy, instance);
  if (idleFrom === undefined || notBefore === undefined) return KEEP;
  const steps: Array<{ to: 'warm' | 'sleeping'; at: number }> = [];
  if (policy.idleSleepAfterSecs > 0) {
    steps.push({ to: 'sleeping', at: idleFrom + policy.idleSleepAfterSecs * 1000 });
  }
  if (policy.idleWarmAfterSecs > 0 && current === 'running') {
    steps.push({ to: 'warm', at: idleFrom + policy.idleWarmAfterSecs * 1000 });
  }
  // The deepest step already due wins: a coordinator that was away does not stop half way.
  const due = steps.find((step) => Math.max(step.at, notBefore) <= nowMs);
  if (due) return { kind: 'lower', to: due.to, slot };
  const next = Math.min(...steps.map((step) => Math.max(step.at, notBefore)));
  return Number.isFinite(next) ? { kind: 'keep', recheckAt: next } : KEEP;
}

/**
 * When the instance last did something, as far as the policy is concerned: its last activity,
 * its creation, and when it last started running (a boot or a wake counts as activity). A
 * warm instance the policy lowered from running went warm having been idle for the warm
 * period, so its idle time runs on from then rather than starting over.
 */
function idleSince(policy: IdlePolicy, instance: IdleCandidate): number | undefined {
  const created = toMs(instance.createdAt);
  if (created === undefined) return undefined;
  const since = toMs(instance.statusSince);
  const marks = [created, toMs(instance.lastActiveAt) ?? created];
  if (since !== undefined && instance.status === 'running') marks.push(since);
  if (since !== undefined && instance.status === 'warm') {
    marks.push(instance.idleSlot === 'running' ? since - policy.idleWarmAfterSecs * 1000 : since);
  }
  return Math.max(...marks);
}

/**
 * The end of the minimum-awake (or minimum-warm) window: the current status's, and at least
 * IDLE_MIN_AWAKE_SECS after creation and after the last activity (a guest's busy refusal is
 * recorded as activity, so it is not asked again straight away).
 */
function windowEnd(policy: SleepPolicy, instance: IdleCandidate): number | undefined {
  const created = toMs(instance.createdAt);
  if (created === undefined) return undefined;
  const since = toMs(instance.statusSince) ?? created;
  const active = toMs(instance.lastActiveAt) ?? created;
  const floor = Math.max(created, active) + IDLE_MIN_AWAKE_SECS * 1000;
  if (instance.status === 'running') {
    const awake = Math.max(IDLE_MIN_AWAKE_SECS, policy.minRunningSecs) * 1000;
    return Math.max(floor, since + awake);
  }
  return Math.max(floor, since + policy.minWarmSecs * 1000);
}
