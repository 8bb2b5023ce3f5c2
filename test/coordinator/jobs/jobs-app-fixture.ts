import { createCoordinatorApp } from '../../../src/coordinator/app.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import type { Store } from '../../../src/ports/store.ts';

export const JOBS_ADMIN = 'jobs-admin-token-0123456789abcdef-8e1f2a3b4c5d6e7f';

export type JobsApp = ReturnType<typeof createCoordinatorApp>['app'];

/** An in-process coordinator over `store` for the job tests, `admin` its admin token. */
export async function adoptedCoordinator(
  store: Store,
  admin: string,
): Promise<ReturnType<typeof createCoordinatorApp>> {
  const created = createCoordinatorApp({
    store,
    clock: systemClock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: () => 'x',
  });
  await created.services.adminToken.adopt({
    secret: admin,
    home: { kind: 'configured' },
    source: 'test',
  });
  return created;
}

/** The job route tests' app, admin token JOBS_ADMIN. */
export async function jobsApp(store: Store): Promise<JobsApp> {
  return (await adoptedCoordinator(store, JOBS_ADMIN)).app;
}
