import { createCoordinatorApp } from '../../../src/coordinator/app.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import type { Store } from '../../../src/ports/store.ts';

export const JOBS_ADMIN = 'jobs-admin-token-0123456789abcdef-8e1f2a3b4c5d6e7f';

export type JobsApp = ReturnType<typeof createCoordinatorApp>['app'];

/** An in-process coordinator over `store` for the job route tests, admin token JOBS_ADMIN. */
export async function jobsApp(store: Store): Promise<JobsApp> {
  const created = createCoordinatorApp({
    store,
    clock: systemClock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => 'x',
  });
  await created.services.adminToken.adopt({
    secret: JOBS_ADMIN,
    home: { kind: 'configured' },
    source: 'test',
  });
  return created.app;
}
