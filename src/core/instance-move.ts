import type { FleetNode, Instance, Pool } from './model.ts';

/**
 * Moving a sleeping instance between nodes, decided from values.
 *
 * A move carries the instance's snapshot (when it has one) and its data disk from the source
 * node to the target as a bundle of parts, each checked by sha256. Its steps:
 *
 *   requested → exporting → transferring → importing → done
 *                   ↘            ↘             ↘
 *                                failed
 *
 * The source keeps its copy until the move is done, and the instance's node changes to the
 * target only in the same write that marks the move done, so at every step exactly one node
 * owns the instance. Every step is resumable after a crash of either side: an export is
 * written again (it is idempotent), a transfer resumes each part at the bytes the target has
 * verified so far, an import is done again from the verified bundle. A part whose hash does
 * not match is fetched again from its start. Too many attempts fail the move, and the
 * instance stays asleep on its source.
 */
export const moveSteps = [
  'requested',
  'exporting',
  'transferring',
  'importing',
  'done',
  'failed',
] as const;
export type MoveStep = (typeof moveSteps)[number];

/** How often a step may be started again after a crash or a refused part before it fails. */
export const MAX_MOVE_ATTEMPTS = 5;

export interface BundlePart {
  name: string;
  bytes: number;
  sha256: string;
}

export interface MoveState {
  step: MoveStep;
  sourceNode: string;
  targetNode: string;
  /** The bundle's parts, known once the export is done. */
  parts: BundlePart[] | null;
  /** Bytes of each part the target holds and has checked, by part name. */
  received: Record<string, number>;
  /** Starts of the current step (1 on its first try). */
  attempts: number;
  /** Why it failed; null otherwise. */
  reason: string | null;
  /** Wake the instance on the target once imported (a drain), or leave it asleep. */
  wake: boolean;
  /**
   * What a woken move brings the instance back to on the target: `running`, or `warm` (a
   * drained warm instance comes back warm, not running); null when `wake` is false.
   */
  restore: RestoreStatus | null;
}

/** The statuses a move wakes an instance to on its target. */
export const restoreStatuses = ['running', 'warm'] as const;
export type RestoreStatus = (typeof restoreStatuses)[number];

/**
 * The desired status the instance has once the move is done: what it is restored to when the
 * move wakes it (`running` for a move that names none), else the desired status it had.
 */
export function desiredAfterMove(
  move: Pick<MoveState, 'wake' | 'restore'>,
  desired: Instance['desiredStatus'],
): Instance['desiredStatus'] {
  if (!move.wake) return desired;
  const restore = move.restore ?? 'running';
  // A wake decided while the move was under way (core/move-hold.ts) is not lowered by it.
  return desired === 'running' ? desired : restore;
}

export type MoveEvent =
  | { kind: 'start' }
  | { kind: 'exported'; parts: BundlePart[] }
  | { kind: 'received'; part: string; bytes: number }
  | { kind: 'part-refused'; part: string; reason: string }
  | { kind: 'imported' }
  | { kind: 'crashed'; side: 'source' | 'target'; reason: string }
  | { kind: 'failed'; reason: string };

export function newMove(
  sourceNode: string,
  targetNode: string,
  wake: boolean,
  restore: RestoreStatus | null = wake ? 'running' : null,
): MoveState {
  return {
    step: 'requested',
    sourceNode,
    targetNode,
    parts: null,
    received: {},
    attempts: 0,
    reason: null,
    wake,
    restore: wake ? restore : null,
  };
}

export const isTerminal = (step: MoveStep) => step === 'done' || step === 'failed';

/** The node that owns the instance: the source until the move is done. */
export const ownerOf = (move: Pick<MoveState, 'step' | 'sourceNode' | 'targetNode'>) =>
  move.step === 'done' ? move.targetNode : move.sourceNode;

const failedWith = (move: MoveState, reason: string): MoveState => ({
  ...move,
  step: 'failed',
  reason,
});

/** Another try of the current step, or failed once the attempts run out. */
function retried(move: MoveState, reason: string): MoveState {
  if (move.attempts >= MAX_MOVE_ATTEMPTS) {
    return failedWith(move, `${move.step} failed ${move.attempts} times; last: ${reason}`);
  }
  return { ...move, attempts: move.attempts + 1, reason };
}

const allReceived = (parts: readonly BundlePart[], received: Record<string, number>) =>
  parts.every((p) => (received[p.name] ?? 0) === p.bytes);

function onReceived(move: MoveState, part: string, bytes: number): MoveState {
  const wanted = move.parts?.find((p) => p.name === part);
  if (!wanted || bytes < 0 || bytes > wanted.bytes) {
    return retried(move, `the target reported ${bytes} bytes of unknown or shorter part '${part}'`);
  }
  const received = { ...move.received, [part]: Math.max(bytes, move.received[part] ?? 0) };
  const parts = move.parts ?? [];
  if (!allReceived(parts, received)) return { ...move, received };
  return { ...move, received, step: 'importing', attempts: 1, reason: null };
}

/** The next state of a move given what happened; events that do not apply change nothing. */
export function advanceMove(move: MoveState, event: MoveEvent): MoveState {
  if (isTerminal(move.step)) return move;
  if (event.kind === 'failed') return failedWith(move, event.reason);
  if (event.kind === 'crashed') return retried(move, `${event.side} crashed: ${event.reason}`);
  switch (move.step) {
    case 'requested':
      return event.kind === 'start' ? { ...move, step: 'exporting', attempts: 1 } : move;
    case 'exporting':
      if (event.kind !== 'exported') return move;
      if (event.parts.length === 0) return failedWith(move, 'the export produced no parts');
      return { ...move, step: 'transferring', parts: event.parts, received: {}, attempts: 1 };
    case 'transferring':
      if (event.kind === 'received') return onReceived(move, event.part, event.bytes);
      if (event.kind === 'part-refused') {
        // A part that does not check out is fetched again from its start.
        const received = { ...move.received, [event.part]: 0 };
        return { ...retried(move, event.reason), received };
      }
      return move;
    case 'importing':
      return event.kind === 'imported' ? { ...move, step: 'done', reason: null } : move;
  }
  return move;
}

/** Where a transfer resumes: the first part the target does not hold whole, at its offset. */
export function nextTransfer(
  move: Pick<MoveState, 'parts' | 'received'>,
): { part: string; offset: number } | undefined {
  for (const part of move.parts ?? []) {
    const offset = move.received[part.name] ?? 0;
    if (offset < part.bytes) return { part: part.name, offset };
  }
  return undefined;
}

export interface MoveCandidate {
  instance: Pick<Instance, 'status' | 'desiredStatus' | 'nodeId'>;
  pool: Pick<Pool, 'pinned' | 'vcpus' | 'memMib'>;
  target: Pick<FleetNode, 'id' | 'status'> | undefined;
  /** vCPUs and MiB free on the target now (capacity less what its running and warm hold). */
  targetFree: { vcpus: number; memMib: number };
  /** Whether the instance wakes on the target (it then needs room for its RAM). */
  wake: boolean;
  /** A move of this instance not yet done or failed. */
  moveInProgress: boolean;
}

/** Why the instance may not move now, or undefined when it may. */
export function moveRefusal(c: MoveCandidate): string | undefined {
  if (c.pool.pinned) return 'its pool is pinned: its instances never leave their node';
  const at = c.instance.status;
  if ((at !== 'sleeping' && at !== 'stopped') || c.instance.desiredStatus !== at) {
    return `only a sleeping or stopped instance moves; this one is ${at} (desired ${c.instance.desiredStatus}); sleep it first`;
  }
  if (c.moveInProgress) return 'a move of it is already under way';
  if (!c.target) return 'the target node does not exist';
  if (c.target.id === c.instance.nodeId) return 'the target is the node it is on';
  if (c.target.status !== 'ready') return `the target node is ${c.target.status}`;
  const room = c.targetFree.vcpus >= c.pool.vcpus && c.targetFree.memMib >= c.pool.memMib;
  if (c.wake && !room) {
    return `the target has no room to wake it (${c.pool.vcpus} vCPUs and ${c.pool.memMib} MiB wanted, ${c.targetFree.vcpus} and ${c.targetFree.memMib} free)`;
  }
  return undefined;
}

/**
 * Why an asked-for status must wait for the instance's move (one under way): waking or raising
 * it on its source would make the bundle stale and fail the move; the move brings it back to
 * its `restore` status on the target. Stopping or destroying it is not held up.
 */
export function raiseDuringMove(
  target: Instance['desiredStatus'],
  move: Pick<MoveState, 'step' | 'targetNode'> | undefined,
): string | undefined {
  if (!move || isTerminal(move.step)) return undefined;
  if (target !== 'running' && target !== 'warm') return undefined;
  return `a move of it to node ${move.targetNode} is under way (${move.step}); it is brought back there once the move is done, or wake it after the move failed`;
}

/** A move as the store keeps it. */
export interface InstanceMove extends MoveState {
  id: string;
  tenantId: string;
  poolId: string;
  instanceId: string;
  /** The node whose drain asked for the move; null for a move asked for by itself. */
  drainOf: string | null;
  requestedBy: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}
