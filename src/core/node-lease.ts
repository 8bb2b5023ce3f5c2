import type { InstanceStatus } from './model.ts';
import type { PlanStep, ReconcilePlan, StepKind } from './reconcile-plan.ts';

/**
 * Node leases: how a partitioned node stops serving instances the coordinator moves away.
 *
 * The coordinator's loss timeout (`nodeLostAfterMs`) is the one setting. Every heartbeat
 * answer grants the agent a lease of `leaseFor(lostAfterMs)`, counted by the agent from the
 * moment it sent that heartbeat (never later than the coordinator recorded it, so no clock
 * offset enters). The rest of the timeout, `fenceMarginMs`, covers the agent's check interval,
 * the pause itself, and the clock skew between coordinator replicas that write and read
 * `lastHeartbeat`: the coordinator re-places nothing before lease + margin has passed.
 *
 * A node whose lease ran out pauses (never stops) the running instances of pools that may be
 * re-placed: a pause keeps RAM, so a partition that heals before the coordinator gives the
 * node up costs a resume, not a cold boot; a paused guest sends nothing, so its identity and
 * IP are free for the copy the coordinator boots elsewhere. Pinned pools never move, so their
 * instances run on. Until a heartbeat renews the lease and the agent holds the document the
 * coordinator issued with it, no step brings a re-placeable instance up (resume, boot, wake):
 * the newer document may have moved it away, and then its copy here is destroyed instead.
 */
export const MIN_FENCE_MARGIN_MS = 50;

/** A third of the timeout (at least MIN_FENCE_MARGIN_MS): 10 s of the default 30 s. */
export function fenceMarginMs(lostAfterMs: number): number {
  return Math.max(MIN_FENCE_MARGIN_MS, Math.ceil(lostAfterMs / 3));
}

/** The lease every heartbeat answer grants: the loss timeout less the fence margin. */
export function leaseFor(lostAfterMs: number): number {
  return Math.max(1, lostAfterMs - fenceMarginMs(lostAfterMs));
}

/**
 * `held`: renewed within the lease and the agent holds the document issued with it.
 * `unconfirmed`: not renewed yet since the agent started (or renewed, with a newer document
 *   on its way); nothing re-placeable comes up, nothing is paused yet.
 * `expired`: no renewal for longer than the lease; re-placeable instances are paused.
 */
export type LeaseState = 'held' | 'unconfirmed' | 'expired';

export interface LeaseFacts {
  now: number;
  /** When the agent started: a lease it never renewed counts from there. */
  startedAt: number;
  /** When the heartbeat that renewed it last was sent; absent: never since start. */
  renewedAt?: number;
  leaseMs: number;
  /** The generation the coordinator said it issued in that heartbeat's answer. */
  issuedGeneration?: number;
  /** The generation of the document the agent holds (0: none). */
  documentGeneration: number;
}

export function leaseState(facts: LeaseFacts): LeaseState {
  const since = facts.renewedAt ?? facts.startedAt;
  if (facts.now - since > facts.leaseMs) return 'expired';
  if (facts.renewedAt === undefined) return 'unconfirmed';
  return facts.documentGeneration < (facts.issuedGeneration ?? 0) ? 'unconfirmed' : 'held';
}

/** What an agent without a lease may still do to a re-placeable instance: take it down. */
const fencedKinds: ReadonlySet<StepKind> = new Set(['pause', 'stop', 'destroy']);

export interface FencedPlan {
  plan: ReconcilePlan;
  /**
   * Re-placeable instances whose steps were dropped: the pass leaves them as they are and
   * reports nothing about them (an instance not created here yet is not `destroyed`).
   */
  held: string[];
  /** Running re-placeable instances the plan now pauses. */
  paused: string[];
}

/**
 * The plan an agent may run in `state`. Held: the plan as it is. Otherwise each re-placeable
 * instance keeps its steps only when they all take it down; when they do not, they are
 * dropped, and once the lease expired a running one is paused instead.
 */
export function fencePlan(
  planned: ReconcilePlan,
  observed: ReadonlyMap<string, InstanceStatus>,
  replaceable: ReadonlySet<string>,
  state: LeaseState,
): FencedPlan {
  if (state === 'held') return { plan: planned, held: [], paused: [] };
  const blocked = new Set(
    planned.steps
      .filter((s) => replaceable.has(s.instance) && !fencedKinds.has(s.kind))
      .map((s) => s.instance),
  );
  const steps = planned.steps.filter((s) => !blocked.has(s.instance));
  const pauses: PlanStep[] = [];
  if (state === 'expired') {
    const planning = new Set(steps.map((s) => s.instance));
    for (const instance of replaceable) {
      if (observed.get(instance) !== 'running' || planning.has(instance)) continue;
      pauses.push({ kind: 'pause', instance, from: 'running', to: 'warm' });
    }
  }
  return {
    plan: { steps: [...steps, ...pauses], stuck: planned.stuck },
    held: [...blocked].filter((i) => !pauses.some((p) => p.instance === i)).sort(),
    paused: pauses.map((p) => p.instance).sort(),
  };
}
