import { IllegalTransitionError } from './errors.ts';
import { instanceStatuses } from './model.ts';
import type { DesiredStatus, InstanceStatus } from './model.ts';

/**
 * Forward edges that are part of an instance's normal life. `stopped`, `failed` and
 * `destroyed` are added for every status below, so the table only lists the interesting ones.
 */
const lifecycleEdges: Readonly<Record<InstanceStatus, readonly InstanceStatus[]>> = {
  created: ['ready'],
  ready: ['running'],
  running: ['warm'],
  warm: ['running', 'sleeping'],
  // Waking restores the snapshot straight into a running VM.
  sleeping: ['running'],
  // A stopped or failed instance boots cold again, so it goes back through `ready`.
  stopped: ['ready'],
  failed: ['ready'],
  destroyed: [],
};

/** Statuses that may be stopped. `stopped` itself is excluded: there is nothing to do. */
const stoppable: ReadonlySet<InstanceStatus> = new Set([
  'created',
  'ready',
  'running',
  'warm',
  'sleeping',
  'failed',
]);

function computeNext(from: InstanceStatus): InstanceStatus[] {
  if (from === 'destroyed') return [];
  const next = new Set<InstanceStatus>(lifecycleEdges[from]);
  if (stoppable.has(from)) next.add('stopped');
  if (from !== 'failed') next.add('failed');
  next.add('destroyed');
  // Keep the canonical status order so hints and paths are deterministic.
  return instanceStatuses.filter((status) => next.has(status));
}

const nextByStatus: ReadonlyMap<InstanceStatus, readonly InstanceStatus[]> = new Map(
  instanceStatuses.map((status) => [status, computeNext(status)]),
);

/** The statuses `from` may move to in one step, in canonical order. */
export function legalNextStatuses(from: InstanceStatus): InstanceStatus[] {
  return [...(nextByStatus.get(from) ?? [])];
}

/** Self-transitions are never legal: a compare-and-set that changes nothing is a bug. */
export function canTransition(from: InstanceStatus, to: InstanceStatus): boolean {
  return nextByStatus.get(from)?.includes(to) ?? false;
}

function legalHint(from: InstanceStatus): string {
  const next = legalNextStatuses(from);
  if (next.length === 0) return `'${from}' is terminal; create a new instance instead`;
  return `from '${from}' it may go to: ${next.join(', ')}`;
}

export function assertTransition(subject: string, from: InstanceStatus, to: InstanceStatus): void {
  if (!canTransition(from, to)) {
    throw new IllegalTransitionError(subject, from, to, legalHint(from));
  }
}

/**
 * The shortest sequence of statuses (excluding `from`) that takes an instance to `desired`.
 * `failed` is never a waypoint: nobody plans to fail. Breadth-first over the canonical order,
 * so the result is deterministic.
 */
export function pathTo(
  from: InstanceStatus,
  desired: DesiredStatus,
  subject = 'instance',
): InstanceStatus[] {
  if (from === desired) return [];
  const previous = new Map<InstanceStatus, InstanceStatus>();
  const queue: InstanceStatus[] = [from];
  for (let current = queue.shift(); current !== undefined; current = queue.shift()) {
    for (const next of nextByStatus.get(current) ?? []) {
      if (next === 'failed' || next === from || previous.has(next)) continue;
      previous.set(next, current);
      if (next === desired) return unwind(previous, from, next);
      queue.push(next);
    }
  }
  throw new IllegalTransitionError(subject, from, desired, legalHint(from));
}

function unwind(
  previous: ReadonlyMap<InstanceStatus, InstanceStatus>,
  from: InstanceStatus,
  to: InstanceStatus,
): InstanceStatus[] {
  const path: InstanceStatus[] = [];
  for (let step: InstanceStatus | undefined = to; step !== undefined && step !== from;) {
    path.unshift(step);
    step = previous.get(step);
  }
  return path;
}
