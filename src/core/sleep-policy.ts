import { ValidationError } from './errors.ts';
import type { DesiredStatus, InstanceStatus } from './model.ts';

/**
 * A pool's minimum times: once an instance is observed running (or warm), the materializer
 * does not take it below that state until this many seconds have passed since the status
 * changed. It damps flapping when counts go down soon after they went up.
 */
export interface SleepPolicy {
  minRunningSecs: number;
  minWarmSecs: number;
}

export const noSleepPolicy: Readonly<SleepPolicy> = { minRunningSecs: 0, minWarmSecs: 0 };

/** One week: far beyond any sensible minimum, small enough to stay an exact integer in ms. */
export const MAX_SLEEP_POLICY_SECS = 7 * 24 * 3600;

export function sleepPolicyProblems(policy: SleepPolicy): string[] {
  return (['minRunningSecs', 'minWarmSecs'] as const).flatMap((name) => {
    const value = policy[name];
    if (Number.isInteger(value) && value >= 0 && value <= MAX_SLEEP_POLICY_SECS) return [];
    return [`${name} must be an integer from 0 to ${MAX_SLEEP_POLICY_SECS}, got ${value}`];
  });
}

export function validateSleepPolicy<T extends SleepPolicy>(policy: T): T {
  const problems = sleepPolicyProblems(policy);
  if (problems.length > 0) {
    throw new ValidationError(`invalid sleep policy: ${problems.join('; ')}`, problems);
  }
  return policy;
}

/** Epoch ms of an ISO timestamp or of ms already; undefined for null, absent or unparsable. */
export function toMs(at: string | number | null | undefined): number | undefined {
  if (at === null || at === undefined) return undefined;
  const ms = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The states a minimum time protects, and the desired statuses that still keep them. */
const protects = {
  running: { secs: 'minRunningSecs', keptBy: ['running'] },
  warm: { secs: 'minWarmSecs', keptBy: ['running', 'warm'] },
} as const satisfies Record<string, { secs: keyof SleepPolicy; keptBy: DesiredStatus[] }>;

export type ProtectedState = keyof typeof protects;

export interface HoldCandidate {
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
  statusSince?: string | null;
}

/**
 * When the minimum time of `state` ends for this instance, if it has not ended at `nowMs`;
 * undefined when nothing holds it. Only an instance observed in `state` whose desired status
 * still keeps it there is held: one already told to go lower (by an operator or an earlier
 * pass) is left to go. A missing statusSince means the status predates the column: old.
 */
export function heldUntil(
  state: ProtectedState,
  instance: HoldCandidate,
  policy: SleepPolicy,
  nowMs: number,
): number | undefined {
  const rule = protects[state];
  if (instance.status !== state) return undefined;
  if (!(rule.keptBy as readonly DesiredStatus[]).includes(instance.desiredStatus)) return undefined;
  const since = toMs(instance.statusSince);
  if (since === undefined) return undefined;
  const end = since + policy[rule.secs] * 1000;
  return end > nowMs ? end : undefined;
}

/** Most recently active first; never active (null) is the coldest of all. */
export function hotterFirst(
  a: { lastActiveAt?: string | null },
  b: { lastActiveAt?: string | null },
): number {
  const left = toMs(a.lastActiveAt) ?? Number.NEGATIVE_INFINITY;
  const right = toMs(b.lastActiveAt) ?? Number.NEGATIVE_INFINITY;
  return left === right ? 0 : left > right ? -1 : 1;
}
