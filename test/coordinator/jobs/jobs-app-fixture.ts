import type { CoordinatorApp } from '../../../src/coordinator/app.ts';
import type { Store } from '../../../src/ports/store.ts';
import { instance, node, pool, tenant } from '../../db/fixtures.ts';
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

/** A request to the jobs app with `token`, its JSON answer loosely typed as `A`. */
export async function callJobs<A>(
  app: JobsApp,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: A }> {
  const response = await app.request(`/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as A };
}

/**
 * The job route tests' app over `store`: tenants acme (net 1) and beta (net 2), a pool workers
 * each, acme's w-1 on node-1, then what `more` adds, then a token named `ci` of acme and one
 * of beta, issued by the admin.
 */
export async function seededJobsApp(
  store: Store,
  more: (store: Store) => Promise<void> = async () => {},
): Promise<{ app: JobsApp; tokens: Record<'acme' | 'beta', string> }> {
  const app = await jobsApp(store);
  await store.tenants.insert(tenant('acme', 1));
  await store.tenants.insert(tenant('beta', 2));
  await store.pools.insert(pool('acme', 'workers'));
  await store.pools.insert(pool('beta', 'workers'));
  await store.nodes.upsert(node('node-1'));
  await store.instances.insert(instance('w-1', 10, { nodeId: 'node-1' }));
  await more(store);
  return { app, tokens: await ciTokens(app) };
}

async function ciTokens(app: JobsApp): Promise<Record<'acme' | 'beta', string>> {
  const tokens = { acme: '', beta: '' };
  for (const t of ['acme', 'beta'] as const) {
    const issued = await callJobs<{ token?: string }>(
      app,
      'POST',
      `/tenants/${t}/tokens`,
      JOBS_ADMIN,
      { name: 'ci' },
    );
    tokens[t] = String(issued.body.token);
  }
  return tokens;
}
