import { idleVerdict, type IdleSlot } from './idle-policy.ts';
import type { DesiredStatus, Instance, Pool } from './model.ts';

/** One instance the idle policy moves: lowered below its slot, or restored to it. */
export interface IdleChange {
  id: string;
  /** The instance as it was judged: its version makes applying the change a compare-and-set. */
  version: number;
  desiredStatus: DesiredStatus;
  idleSlot: IdleSlot | null;
  /** `idle-warm`, `idle-sleep`, or `idle-busy` (a busy guest refused the sleep). */
  reason: 'idle-warm' | 'idle-sleep' | 'idle-busy';
}

export interface IdlePlan {
  changes: IdleChange[];
  /** Epoch ms of the next step that may fall due (absent when none is pending). */
  recheckAt?: number;
}

/**
 * A sleep the idle policy asked for and the node refused, the instance still running with the
 * refusal as its reason: the drain protocol's answer that the guest is busy.
 */
export function refusedAsBusy(instance: Instance): boolean {
  return (
    instance.idleSlot !== null &&
    instance.status === 'running' &&
    instance.desiredStatus === 'sleeping' &&
    instance.failureReason !== null
  );
}

/**
 * The idle steps due in one pool at `nowMs`, per instance (core/idle-policy.ts). `wakeArmed`
 * says whether an instance's node traps connections to its lowered instances (its heartbeats
 * say so); by default none does, and pools with service ports are never lowered.
 */
export function planIdle(
  pool: Pool,
  instances: readonly Instance[],
  nowMs: number,
  wakeArmed: (instance: Instance) => boolean = () => false,
): IdlePlan {
  const changes: IdleChange[] = [];
  const due: number[] = [];
  for (const instance of instances) {
    if (instance.tenantId !== pool.tenantId || instance.poolId !== pool.id) continue;
    if (instance.nodeId === null) continue;
    const candidate = {
      ...instance,
      guestBusy: refusedAsBusy(instance),
      wakeArmed: wakeArmed(instance),
    };
    const verdict = idleVerdict(pool, candidate, nowMs);
    const base = { id: instance.id, version: instance.version };
    if (verdict.kind === 'lower') {
      const reason = verdict.to === 'warm' ? 'idle-warm' : 'idle-sleep';
      changes.push({ ...base, desiredStatus: verdict.to, idleSlot: verdict.slot, reason });
    } else if (verdict.kind === 'restore') {
      changes.push({ ...base, desiredStatus: verdict.slot, idleSlot: null, reason: 'idle-busy' });
    } else if (verdict.recheckAt !== undefined) {
      due.push(verdict.recheckAt);
    }
  }
  return due.length === 0 ? { changes } : { changes, recheckAt: Math.min(...due) };
}
