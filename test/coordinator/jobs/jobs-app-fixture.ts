import type { CoordinatorApp } from '../../../src/coordinator/app.ts';
import type { Store } from '../../../src/ports/store.ts';
import { coordinatorWorld } from '../../support/coordinator-world.ts';

export const JOBS_ADMIN = 'jobs-admin-token-0123456789abcdef-8e1f2a3b4c5d6e7f';

export type JobsApp = CoordinatorApp['app'];

/** An in-process coordinator over `store` for the job tests, `admin` its admin token. */
export async function adoptedCoordinator(store: Store, admin: string): Promise<CoordinatorApp> {
  const { app, services } = await coordinatorWorld(store, { admin, randomSuffix: () => 'x' });
  return { app, services };
}

/** The job route tests' app, admin token JOBS_ADMIN. */
export async function jobsApp(store: Store): Promise<JobsApp> {
  return (await adoptedCoordinator(store, JOBS_ADMIN)).app;
}
