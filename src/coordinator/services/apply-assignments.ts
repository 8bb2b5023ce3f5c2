import type { Assignment } from '../../core/materializer.ts';
import type { Instance } from '../../core/model.ts';
import type { Repos } from '../../ports/store.ts';

/**
 * Writes a materializer plan's new desired statuses (core/materializer.ts) onto the pool's
 * instances, each a compare-and-set on the version read; returns the instances as written.
 * One path for a scale, a queue's growth and its shrink.
 */
export async function applyAssignments(
  repos: Repos,
  pool: { tenantId: string; poolId: string },
  instances: readonly Instance[],
  assignments: readonly Assignment[],
  at: string,
): Promise<Instance[]> {
  const changed: Instance[] = [];
  for (const assignment of assignments) {
    const current = instances.find((i) => i.id === assignment.id);
    if (!current) continue;
    const key = { ...pool, instanceId: current.id };
    changed.push(
      await repos.instances.setDesired(key, assignment.desiredStatus, current.version, at),
    );
  }
  return changed;
}
