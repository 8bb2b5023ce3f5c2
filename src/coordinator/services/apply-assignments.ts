import { lowers, type Assignment } from '../../core/materializer.ts';
import type { Instance, Pool, PoolCounts } from '../../core/model.ts';
import type { MemberWrite, Repos } from '../../ports/store.ts';

/**
 * A materializer plan's assignments (core/materializer.ts) as a scale, a queue's growth and
 * its shrink write them with their pool (PoolRepo.updateWithMembers): each with the version
 * read of its instance, in the plan's order; an assignment to an instance not read is left out.
 */
export function memberWrites(
  instances: readonly Pick<Instance, 'id' | 'version' | 'desiredStatus'>[],
  assignments: readonly Assignment[],
): MemberWrite[] {
  const read = namedIn(instances, assignments);
  return assignments.flatMap((a) => {
    const instance = read.get(a.id);
    if (instance === undefined) return [];
    return [
      {
        id: a.id,
        version: instance.version,
        desiredStatus: a.desiredStatus,
        ...(a.idleSlot !== undefined
          ? { idleSlot: a.idleSlot }
          : lowers(instance.desiredStatus, a.desiredStatus)
            ? { lowering: true as const }
            : {}),
      },
    ];
  });
}

/**
 * `read`'s instances that `named` names, by id (the last of an id, as a map of all would):
 * only the few a plan writes, where a map of a pool's every instance was most of what a scale
 * allocated (docs/scale.md, "What a toggle allocates").
 */
export function namedIn<T extends { id: string }>(
  read: readonly T[],
  named: readonly { id: string }[],
): Map<string, T> {
  const ids = new Set(named.map((n) => n.id));
  const byId = new Map<string, T>();
  for (const i of read) if (ids.has(i.id)) byId.set(i.id, i);
  return byId;
}

/**
 * A queue's growth or shrink: the pool's new counts and added workers with the plan's
 * assignments, in one write (one statement on Postgres), as a scale's.
 */
export function writeQueuePlan(
  repos: Repos,
  pool: Pick<Pool, 'tenantId' | 'id' | 'version'>,
  patch: { counts: PoolCounts; queueAdded: number },
  instances: readonly Pick<Instance, 'id' | 'version' | 'desiredStatus'>[],
  assignments: readonly Assignment[],
  at: string,
): Promise<{ pool: Pool; members: Instance[] }> {
  const { tenantId, id, version } = pool;
  const target = { tenantId, id, patch, expectedVersion: version };
  return repos.pools.updateWithMembers(target, memberWrites(instances, assignments), at);
}

/**
 * One assignment, a compare-and-set on the version read: a new desired status (clearing the
 * pressure and idle markers), or, for an instance the idle policy holds lower that moved to a
 * higher slot, only that slot (it stays where it is held).
 */
export function writeAssignment(
  repos: Repos,
  current: Pick<Instance, 'tenantId' | 'poolId' | 'id' | 'version' | 'desiredStatus'>,
  assignment: Assignment,
  at: string,
): Promise<Instance> {
  const key = { tenantId: current.tenantId, poolId: current.poolId, instanceId: current.id };
  if (assignment.idleSlot !== undefined) {
    return repos.instances.update(key, { idleSlot: assignment.idleSlot }, current.version, at);
  }
  const lowering = lowers(current.desiredStatus, assignment.desiredStatus);
  return repos.instances.setDesired(key, assignment.desiredStatus, current.version, at, {
    lowering,
  });
}
