import type { DesiredStatus, Instance, Pool } from './model.ts';
import { placeInstances, type PlacementNode } from './placement.ts';
import type { RestoreStatus } from './instance-move.ts';
import { ValidationError } from './errors.ts';

/** The bound a raise may wait for room on its node before it is moved (off unless set). */
export const MOVE_WAITING_AFTER = { minMs: 60_000, maxMs: 7 * 86_400_000 } as const;

export function checkMoveWaitingAfter(ms: number): number {
  const { minMs, maxMs } = MOVE_WAITING_AFTER;
  if (!Number.isInteger(ms) || ms < minMs || ms > maxMs) {
    throw new ValidationError(
      `the wait before a raise is moved must be between ${minMs / 1000} s and ${maxMs / 86_400_000} days`,
    );
  }
  return ms;
}

/**
 * A raise that has waited for room on its node longer than a bound is moved to a node with
 * room (the move machinery, core/instance-move.ts), woken there to the place it holds. Only
 * an instance that is really asleep (observed as desired, sleeping or stopped), of a pool that
 * is not pinned, holding a running or warm place (`idleSlot`) and with no move under way; the
 * oldest waits first, each target chosen by placement over the ready nodes other than its own,
 * the room each takes counted for the next. The move's hand-over checks the target's room
 * again (a move is not a reservation). Pure.
 */
export interface WaitingRaise {
  instance: Pick<
    Instance,
    | 'tenantId'
    | 'poolId'
    | 'id'
    | 'nodeId'
    | 'status'
    | 'desiredStatus'
    | 'idleSlot'
    | 'pressureSleptAt'
  >;
  pool: Pick<Pool, 'pinned' | 'vcpus' | 'memMib' | 'critical'> | undefined;
  moving: boolean;
}

export interface Relocation {
  key: string;
  from: string;
  to: string;
  restore: RestoreStatus;
  waitedSecs: number;
}

const keyOf = (i: WaitingRaise['instance']) => `${i.tenantId}/${i.poolId}/${i.id}`;

function movable(w: WaitingRaise, now: number, boundMs: number): boolean {
  const i = w.instance;
  if (!w.pool || w.pool.pinned || w.moving || i.nodeId === null || i.idleSlot === null) {
    return false;
  }
  if (i.desiredStatus !== 'sleeping' && i.desiredStatus !== 'stopped') return false;
  if (i.status !== i.desiredStatus || i.pressureSleptAt === null) return false;
  return now - Date.parse(i.pressureSleptAt) >= boundMs;
}

/** Which waiting raises move where, oldest wait first. */
export function planRelocations(
  nodes: readonly PlacementNode[],
  waiting: readonly WaitingRaise[],
  now: number,
  boundMs: number,
): Relocation[] {
  const table = nodes.map((n) => ({ ...n, poolCounts: { ...n.poolCounts } }));
  const due = waiting
    .filter((w) => movable(w, now, boundMs))
    .sort((a, b) =>
      (a.instance.pressureSleptAt ?? '').localeCompare(b.instance.pressureSleptAt ?? ''),
    );
  const out: Relocation[] = [];
  for (const w of due) {
    const i = w.instance;
    const pool = w.pool;
    if (!pool || i.nodeId === null || i.idleSlot === null) continue;
    const restore: RestoreStatus = i.idleSlot;
    const others = table.filter((n) => n.id !== i.nodeId);
    const [placed] = placeInstances(others, [
      {
        key: keyOf(i),
        pool: `${i.tenantId}/${i.poolId}`,
        vcpus: pool.vcpus,
        memMib: pool.memMib,
        desiredStatus: restore as DesiredStatus,
        critical: pool.critical,
      },
    ]).placed;
    const target = placed && table.find((n) => n.id === placed.nodeId);
    if (!target) continue;
    target.usedVcpus += pool.vcpus;
    target.usedMemMib += pool.memMib;
    const poolKey = `${i.tenantId}/${i.poolId}`;
    target.poolCounts[poolKey] = (target.poolCounts[poolKey] ?? 0) + 1;
    out.push({
      key: keyOf(i),
      from: i.nodeId,
      to: target.id,
      restore,
      waitedSecs: Math.floor((now - Date.parse(i.pressureSleptAt ?? '')) / 1000),
    });
  }
  return out;
}
