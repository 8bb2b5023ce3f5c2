import type { Services } from '../../src/coordinator/services/index.ts';
import { submitJobSchema } from '../../src/contract/jobs.ts';
import type { Instance } from '../../src/core/model.ts';
import type { Store } from '../../src/ports/store.ts';
import { callsModule } from '../executor/job-modules.ts';
import {
  admin,
  closePolicyCoordinators,
  idleWorkerPool,
  instanceKey,
  manualClock as policyClock,
  policyCoordinator,
} from './support/policy-harness.ts';

/** A queue-driven worker pool `acme/ci` in an in-process coordinator, for the queue tests. */
export { admin };
export const T0 = Date.parse('2026-03-01T09:00:00.000Z');
export const iso = (secs: number) => new Date(T0 + secs * 1000).toISOString();
export const ref = { tenantId: 'acme', poolId: 'ci' };
export const keyOf = instanceKey;
export const manualClock = () => policyClock(T0);
export const closeCoordinators = closePolicyCoordinators;
export const coordinator = policyCoordinator;

/**
 * A queue-driven worker pool (min 0, max `max`): idle 30 s to warm, 90 s to sleep; `workers`
 * workers placed on node-1 and running.
 */
export async function setup(
  services: Services,
  store: Store,
  options: { workers?: number; max?: number } = {},
): Promise<void> {
  await idleWorkerPool(services, store, 'ci');

  await services.pools.scale(admin, 'acme', 'ci', { running: options.workers ?? 2 });
  await services.queueWake.setScale(admin, 'acme', 'ci', { min: 0, max: options.max ?? 2 });
  await placeAll(services, store);
}

/** Places every new worker on node-1 (if the scheduler did not) and has it report running. */
export async function placeAll(services: Services, store: Store): Promise<void> {
  for (const created of await store.instances.list(ref)) {
    if (created.status !== 'created') continue;
    const placed =
      created.nodeId === 'node-1'
        ? created
        : await store.instances.update(
            keyOf(created),
            { nodeId: 'node-1' },
            created.version,
            created.updatedAt,
          );
    await services.instances.report('node-1', keyOf(placed), { status: 'running' });
  }
}

/** The node carries out what the coordinator asks. */
export async function nodeSettles(services: Services, store: Store): Promise<Instance[]> {
  const out: Instance[] = [];
  for (const now of await store.instances.list(ref)) {
    const status = now.desiredStatus === 'destroyed' ? 'stopped' : now.desiredStatus;
    out.push(await services.instances.report('node-1', keyOf(now), { status }));
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** The pool's instances' desired statuses, by id. */
export async function desiredStatuses(store: Store): Promise<string[]> {
  const instances = await store.instances.list(ref);
  return instances.sort((a, b) => a.id.localeCompare(b.id)).map((i) => i.desiredStatus);
}

export async function submit(services: Services): Promise<string> {
  const wasm = Buffer.from(callsModule([])).toString('base64');
  const request = submitJobSchema.parse({ pool: 'ci', wasm });
  return (await services.jobs.submit(admin, 'acme', request)).job.id;
}
