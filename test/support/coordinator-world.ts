/**
 * A coordinator world for tests: the real coordinator app over a store under test, its
 * services, the admin token adopted, and API clients that reach it without a socket. Each test
 * file says only what is particular to it (clock, id suffixes, gated store, loss timeout...).
 */
import type { ResolvedAdminToken } from '../../src/coordinator/admin-token.ts';
import {
  createCoordinatorApp,
  type CoordinatorApp,
  type CoordinatorAppDeps,
} from '../../src/coordinator/app.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import {
  createApiClient,
  type ApiClient,
  type FetchLike,
} from '../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../src/ports/store.ts';

export const WORLD_ADMIN = 'test-admin-token-0123456789';

/** Every dependency but the store may be given; `admin` is the secret adopted as admin token. */
export type WorldOptions = Partial<CoordinatorAppDeps> & {
  /** The admin secret, adopted as configured (default WORLD_ADMIN). */
  admin?: string;
  /** A token resolved elsewhere (resolveAdminToken in a data dir), adopted instead of `admin`. */
  adminToken?: ResolvedAdminToken;
  /** Where `client()` says it sends its requests (they never leave the process). */
  baseUrl?: string;
};

export interface CoordinatorWorld {
  app: CoordinatorApp['app'];
  services: CoordinatorApp['services'];
  /** The admin secret (the configured one, or the resolved token's). */
  admin: string;
  baseUrl: string;
  /** The app's fetch, as a client or a server would call it. */
  fetch: FetchLike;
  /** A typed API client on the app, with the admin token unless another is given. */
  client(token?: string): ApiClient;
}

/** Instance suffixes 0000, 0001, ... (base 36), in order of creation. */
export function countingSuffix(): () => string {
  let n = 0;
  return () => (n++).toString(36).padStart(4, '0');
}

/** The coordinator over `store`, admin token adopted. Defaults: system clock, counting suffixes. */
export async function coordinatorWorld(
  store: Store,
  options: WorldOptions = {},
): Promise<CoordinatorWorld> {
  const { admin = WORLD_ADMIN, adminToken, baseUrl = 'http://coordinator.test', ...deps } = options;
  const { app, services } = createCoordinatorApp({
    clock: systemClock,
    clusterCidr: '10.240.0.0/12',
    version: 'test',
    randomSuffix: countingSuffix(),
    ...deps,
    store,
  });
  await services.adminToken.adopt(
    adminToken ?? { secret: admin, home: { kind: 'configured' }, source: 'test' },
  );
  const secret = adminToken?.secret ?? admin;
  const fetch: FetchLike = (request) => app.fetch(request);
  return {
    app,
    services,
    admin: secret,
    baseUrl,
    fetch,
    client: (token = secret) => createApiClient({ baseUrl, token, fetch }),
  };
}
