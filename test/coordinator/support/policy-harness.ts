import { afterEach } from 'vitest';
import { createCoordinatorApp } from '../../../src/coordinator/app.ts';
import type { ChangeNotifier } from '../../../src/coordinator/desired/change-notifier.ts';
import type { Principal } from '../../../src/coordinator/principal.ts';
import type { Services } from '../../../src/coordinator/services/index.ts';
import type { Instance } from '../../../src/core/model.ts';
import type { Clock } from '../../../src/ports/clock.ts';
import type { Store } from '../../../src/ports/store.ts';
import { node } from '../../db/fixtures.ts';

/**
 * What the coordinator's policy tests (idle, sleep, queue wake) share: an admin, a clock that
 * moves only when the test says so (seconds after `t0`), and coordinator services on a store
 * whose recheck timers are closed after each test.
 */
export const admin: Principal = { kind: 'admin', tokenName: 'test' };

export interface ManualClock extends Clock {
  set(secs: number): void;
}

export function manualClock(t0: number): ManualClock {
  let now = t0;
  return {
    now: () => new Date(now),
    sleep: async () => {},
    set: (secs) => {
      now = t0 + secs * 1000;
    },
  };
}

const opened: Services[] = [];
/** Stops the timers of every coordinator opened here (after each test, or sooner). */
export async function closePolicyCoordinators(): Promise<void> {
  for (const services of opened.splice(0)) {
    services.jobs.close();
    await services.rechecks.close();
  }
}
afterEach(closePolicyCoordinators);

/** Coordinator services on `store` with instance ids `i1`, `i2`, … in creation order. */
export function policyCoordinator(store: Store, clock: Clock, notifier?: ChangeNotifier): Services {
  let n = 0;
  const { services } = createCoordinatorApp({
    store,
    clock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => `i${(n += 1)}`,
    ...(notifier ? { notifier } : {}),
  });
  opened.push(services);
  return services;
}

export const instanceKey = (i: Instance) => ({
  tenantId: i.tenantId,
  poolId: i.poolId,
  instanceId: i.id,
});

/**
 * Node `node-1` and tenant `acme` with a 1 vCPU, 256 MiB worker pool `pool` that idles to warm
 * after 30 s and sleeps after 90 s.
 */
export async function idleWorkerPool(
  services: Services,
  store: Store,
  pool: string,
  servicePorts: number[] = [],
): Promise<void> {
  await store.nodes.upsert(node('node-1'));
  await services.tenants.create(admin, { id: 'acme' });
  await services.pools.create(admin, 'acme', {
    id: pool,
    role: 'worker',
    vcpus: 1,
    memMib: 256,
    dataDiskMib: 64,
    pinned: false,
    critical: false,
    minRunningSecs: 0,
    minWarmSecs: 0,
    idleWarmAfterSecs: 30,
    idleSleepAfterSecs: 90,
    servicePorts,
  });
}

/**
 * Policy services on a manual clock at `t0` with acme's idle pool web (idleWorkerPool) scaled
 * to one instance, placed on node-1 at `t0` and reported running there.
 */
export async function runningIdleWorker(
  store: Store,
  t0: number,
): Promise<{ clock: ManualClock; services: Services; created: Instance }> {
  const clock = manualClock(t0);
  const services = policyCoordinator(store, clock);
  await idleWorkerPool(services, store, 'web');
  await services.pools.scale(admin, 'acme', 'web', { running: 1 });
  const [created] = await store.instances.list({ tenantId: 'acme', poolId: 'web' });
  if (!created) throw new Error('expected an instance');
  const placedAt = new Date(t0).toISOString();
  await store.instances.update(
    instanceKey(created),
    { nodeId: 'node-1' },
    created.version,
    placedAt,
  );
  await services.instances.report('node-1', instanceKey(created), { status: 'running' });
  return { clock, services, created };
}

/**
 * Tenant `id` with one worker pool `web` of `vcpus` and `memMib` and no idle policy (the room
 * tests' tenants: every instance of it holds the same room).
 */
export async function plainWebTenant(
  services: Services,
  id: string,
  size: { vcpus: number; memMib: number } = { vcpus: 1, memMib: 256 },
): Promise<void> {
  await services.tenants.create(admin, { id });
  await services.pools.create(admin, id, {
    id: 'web',
    role: 'worker',
    ...size,
    dataDiskMib: 64,
    pinned: false,
    critical: false,
    minRunningSecs: 0,
    minWarmSecs: 0,
    idleWarmAfterSecs: 0,
    idleSleepAfterSecs: 0,
    servicePorts: [],
  });
}
