import type { Instance } from '../../core/model.ts';
import { placeInstances, type PlacementNode } from '../../core/placement.ts';
import type { Repos } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';

export interface ScheduleOutcome {
  placed: Array<{ instance: string; nodeId: string }>;
  unplaced: Array<{ instance: string; reason: string }>;
}

const keyOf = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;
const holds = (i: Instance) => i.desiredStatus === 'running' || i.desiredStatus === 'warm';

/**
 * Gives every unplaced, live instance a node. Identity (IP/MAC) is already fixed, so placement
 * only chooses where; a placed instance stays put (its data and snapshots live there).
 */
export class SchedulerService {
  constructor(private readonly deps: ServiceDeps) {}

  async schedule(): Promise<ScheduleOutcome> {
    return this.deps.store.transaction(async (repos) => {
      // One scheduler at a time across replicas; the others skip (the holder places everything).
      if (!(await repos.locks.tryAcquire('mvm.scheduler'))) return { placed: [], unplaced: [] };
      const nodes = (await repos.nodes.list()).filter((n) => n.status === 'ready');
      const instances = (await repos.instances.list()).filter(
        (i) => i.desiredStatus !== 'destroyed',
      );
      const pools = new Map((await repos.pools.list()).map((p) => [`${p.tenantId}/${p.id}`, p]));
      const sizing = (i: Instance) =>
        pools.get(`${i.tenantId}/${i.poolId}`) ?? { vcpus: 0, memMib: 0, critical: false };
      const placementNodes: PlacementNode[] = nodes.map((n) => ({
        id: n.id,
        vcpus: n.capacity.vcpus,
        memMib: n.capacity.memMib,
        usedVcpus: 0,
        usedMemMib: 0,
        poolCounts: {},
      }));
      for (const instance of instances) {
        const node = placementNodes.find((n) => n.id === instance.nodeId);
        if (!node) continue;
        const pool = `${instance.tenantId}/${instance.poolId}`;
        node.poolCounts[pool] = (node.poolCounts[pool] ?? 0) + 1;
        if (holds(instance)) {
          node.usedVcpus += sizing(instance).vcpus;
          node.usedMemMib += sizing(instance).memMib;
        }
      }
      const pending = instances.filter((i) => i.nodeId === null);
      const result = placeInstances(
        placementNodes,
        pending.map((i) => ({
          key: keyOf(i),
          pool: `${i.tenantId}/${i.poolId}`,
          vcpus: sizing(i).vcpus,
          memMib: sizing(i).memMib,
          desiredStatus: i.desiredStatus,
          critical: sizing(i).critical,
        })),
      );
      await this.apply(repos, pending, result.placed);
      return {
        placed: result.placed.map((p) => ({ instance: p.key, nodeId: p.nodeId })),
        unplaced: result.unplaced.map((u) => ({ instance: u.key, reason: u.reason })),
      };
    });
  }

  private async apply(
    repos: Repos,
    pending: Instance[],
    placed: Array<{ key: string; nodeId: string }>,
  ): Promise<void> {
    const at = this.deps.clock.now().toISOString();
    const byKey = new Map(pending.map((i) => [keyOf(i), i]));
    for (const { key, nodeId } of placed) {
      const instance = byKey.get(key);
      if (!instance) continue;
      const ref = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
      await repos.instances.update(ref, { nodeId }, instance.version, at);
    }
  }
}
