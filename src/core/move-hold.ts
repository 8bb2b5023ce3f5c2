import type { InstanceMove } from './instance-move.ts';
import { statusHeight } from './materializer.ts';
import type { Instance } from './model.ts';

type Held = Pick<Instance, 'status' | 'desiredStatus'>;

/**
 * The desired status the source node is told while the instance's move is under way.
 *
 * Wakes the coordinator decides by itself (a job queue's growth, the idle policy's release,
 * a pressure release, a scale) raise the instance's desired status as they would anywhere:
 * the intent is kept. Its source is told no higher than asleep (stopped for a stopped one),
 * so it never wakes the copy being moved, which would make the bundle stale and fail the
 * move. Once the move is done the raised status is carried out on the target, whose document
 * names the instance from then on; once it failed, on the source. The deferral is here, where
 * the document is built, so every path that raises desired status is covered, asked or not.
 */
export function heldDuringMove(instance: Held): Instance['desiredStatus'] {
  const { desiredStatus, status } = instance;
  // A stopped one moves its data disk alone: not even a sleep (a boot) may start meanwhile.
  const ceiling = status === 'stopped' ? 'stopped' : 'sleeping';
  return statusHeight[desiredStatus] <= statusHeight[ceiling] ? desiredStatus : ceiling;
}

const keyOf = (i: { tenantId: string; poolId: string }, id: string) =>
  `${i.tenantId}/${i.poolId}/${id}`;

/**
 * A node's instances as its document states them: those it is the source of a move under way
 * of are held asleep (`heldDuringMove`); the others are as they are.
 */
export function holdMoving<
  I extends Held & Pick<Instance, 'tenantId' | 'poolId' | 'id' | 'nodeId'>,
>(
  instances: readonly I[],
  moves: readonly Pick<
    InstanceMove,
    'tenantId' | 'poolId' | 'instanceId' | 'sourceNode' | 'step'
  >[],
): I[] {
  const leaving = new Set(
    moves
      .filter((m) => m.step !== 'done' && m.step !== 'failed')
      .map((m) => `${m.sourceNode}:${keyOf(m, m.instanceId)}`),
  );
  if (leaving.size === 0) return [...instances];
  return instances.map((i) =>
    leaving.has(`${i.nodeId ?? ''}:${keyOf(i, i.id)}`)
      ? { ...i, desiredStatus: heldDuringMove(i) }
      : i,
  );
}
