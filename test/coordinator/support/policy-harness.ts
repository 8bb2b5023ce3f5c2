import { afterEach } from 'vitest';
import { createCoordinatorApp } from '../../../src/coordinator/app.ts';
import type { ChangeNotifier } from '../../../src/coordinator/desired/change-notifier.ts';
import type { Principal } from '../../../src/coordinator/principal.ts';
import type { Services } from '../../../src/coordinator/services/index.ts';
import type { Instance } from '../../../src/core/model.ts';
import type { Clock } from '../../../src/ports/clock.ts';
import type { Store } from '../../../src/ports/store.ts';

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
