import type { Instance, Pool } from '../../core/model.ts';
import { placeInstances, type PlacementNode } from '../../core/placement.ts';
import {
  planPressure,
  releasesWithinQuota,
  type PressureInstance,
  type PressurePlan,
} from '../../core/pressure-sleep.ts';
import type { Repos } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';

export interface ScheduleOutcome {
  placed: Array<{ instance: string; nodeId: string }>;
  unplaced: Array<{ instance: string; reason: string }>;
  /** Warm instances put to sleep under memory pressure, with the instance each made room for. */
  slept: Array<{ instance: string; madeRoomFor: string }>;
  /** Instances held asleep by pressure that went back to warm. */
  released: string[];
}

const ACTOR = 'system:scheduler';
const keyOf = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;
const holds = (i: Instance) => i.desiredStatus === 'running' || i.desiredStatus === 'warm';

/** Placement's reason, saying that sleeping idle instances would not have helped either. */
function withRelief(reason: string, anyNode: boolean): string {
  if (!anyNode) return reason;
  return `${reason}, and putting to sleep the warm instances of pools that are neither critical nor pinned would not make room either`;
}

type Sizing = Pick<Pool, 'vcpus' | 'memMib' | 'critical' | 'pinned' | 'minWarmSecs'>;

function pressureView(i: Instance, pool: Sizing, nodeId: string | null): PressureInstance {
  return {
    key: keyOf(i),
    nodeId,
    vcpus: pool.vcpus,
    memMib: pool.memMib,
    status: i.status,
    desiredStatus: i.desiredStatus,
    statusSince: i.statusSince,
    lastActiveAt: i.lastActiveAt,
    pressureSleptAt: i.pressureSleptAt,
    critical: pool.critical,
    pinned: pool.pinned,
    minWarmSecs: pool.minWarmSecs,
  };
}

/**
 * Gives every unplaced, live instance a node. Identity (IP/MAC) is already fixed, so placement
 * only chooses where; a placed instance stays put (its data and snapshots live there). Under
 * memory pressure it sleeps idle warm instances to make room, and wakes them once room returns
 * (core/pressure-sleep.ts).
 */
export class SchedulerService {
  constructor(private readonly deps: ServiceDeps) {}

  async schedule(): Promise<ScheduleOutcome> {
    return this.deps.store.transaction(async (repos) => {
      // One scheduler at a time across replicas; the others skip (the holder places everything).
      if (!(await repos.locks.tryAcquire('mvm.scheduler'))) {
        return { placed: [], unplaced: [], slept: [], released: [] };
      }
      // Placement and pressure move instances of any tenant: it waits for every change of
      // intent in flight, and none interleaves with it (each would find versions moved).
      await repos.tenants.lockAll();
      const nodes = (await repos.nodes.list()).filter((n) => n.status === 'ready');
      const instances = (await repos.instances.list()).filter(
        (i) => i.desiredStatus !== 'destroyed',
      );
      const pools = new Map((await repos.pools.list()).map((p) => [`${p.tenantId}/${p.id}`, p]));
      const sizing = (i: Instance) =>
        pools.get(`${i.tenantId}/${i.poolId}`) ?? {
          vcpus: 0,
          memMib: 0,
          critical: false,
          pinned: false,
          minWarmSecs: 0,
        };
      const placementNodes: PlacementNode[] = nodes.map((n) => ({
        id: n.id,
        vcpus: n.capacity.vcpus,
        memMib: n.capacity.memMib,
        usedVcpus: 0,
        usedMemMib: 0,
        poolCounts: {},
      }));
      const nodeById = new Map(placementNodes.map((n) => [n.id, n]));
      for (const instance of instances) {
        const node = instance.nodeId === null ? undefined : nodeById.get(instance.nodeId);
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
      const placedOn = new Map(result.placed.map((p) => [p.key, p.nodeId]));
      const pressure = planPressure({
        nodes: placementNodes,
        instances: instances.map((i) =>
          pressureView(i, sizing(i), i.nodeId ?? placedOn.get(keyOf(i)) ?? null),
        ),
        unplaced: result.unplaced.map((u) => u.key),
        nowMs: this.deps.clock.now().getTime(),
      });
      const quotas = new Map((await repos.tenants.list()).map((t) => [t.id, t.quotas]));
      pressure.release = releasesWithinQuota(
        pressure.release,
        instances,
        [...pools.values()],
        quotas,
      );
      const placed = [...result.placed, ...pressure.placed];
      await this.apply(repos, pending, placed);
      await this.applyPressure(repos, instances, pressure);
      const relieved = new Set(pressure.placed.map((p) => p.key));
      return {
        placed: placed.map((p) => ({ instance: p.key, nodeId: p.nodeId })),
        unplaced: result.unplaced
          .filter((u) => !relieved.has(u.key))
          .map((u) => ({ instance: u.key, reason: withRelief(u.reason, nodes.length > 0) })),
        slept: pressure.sleep.map((s) => ({ instance: s.key, madeRoomFor: s.madeRoomFor })),
        released: pressure.release.map((r) => r.key),
      };
    });
  }

  /** Puts the victims to sleep and wakes the released, each with its audit event. */
  private async applyPressure(
    repos: Repos,
    instances: Instance[],
    plan: PressurePlan,
  ): Promise<void> {
    const at = this.deps.clock.now().toISOString();
    const byKey = new Map(instances.map((i) => [keyOf(i), i]));
    const changes = [
      ...plan.sleep.map((s) => ({
        key: s.key,
        action: 'instance.pressure-sleep',
        patch: { desiredStatus: 'sleeping', pressureSleptAt: at } as const,
        detail: { nodeId: s.nodeId, madeRoomFor: s.madeRoomFor },
      })),
      ...plan.release.map((r) => ({
        key: r.key,
        action: 'instance.pressure-release',
        patch: { desiredStatus: 'warm', pressureSleptAt: null } as const,
        detail: { nodeId: r.nodeId },
      })),
    ];
    for (const { key, action, patch, detail } of changes) {
      const instance = byKey.get(key);
      if (!instance) continue;
      const ref = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
      await repos.instances.update(ref, patch, instance.version, at);
      await repos.audit.append({
        tenantId: instance.tenantId,
        at,
        actor: ACTOR,
        action,
        target: key,
        detail,
      });
    }
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
