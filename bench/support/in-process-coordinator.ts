import { createCoordinatorApp } from '../../src/coordinator/app.ts';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import type { Logger } from '../../src/ports/logger.ts';
import type { Store } from '../../src/ports/store.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import type { Api } from './fleet-seed.ts';

/** The admin token of every in-process bench coordinator. */
export const BENCH_ADMIN = 'bench-admin-token-0123456789abcdef';

export interface InProcessCoordinator {
  app: ReturnType<typeof createCoordinatorApp>['app'];
  services: ReturnType<typeof createCoordinatorApp>['services'];
  notifier: ChangeNotifier;
  /** The API as the admin, without HTTP; a status of 300 or more throws with the body. */
  api: Api;
}

export interface InProcessOptions {
  clusterCidr?: string;
  /** The coordinator's logger (none by default; request-cost logs as `coordinator serve`). */
  logger?: Logger;
}

/**
 * A coordinator in the bench's own process on `store` (no HTTP, no loops), its admin token
 * adopted: what the in-process benches measure against.
 */
export async function inProcessCoordinator(
  store: Store,
  options: InProcessOptions = {},
): Promise<InProcessCoordinator> {
  const notifier = new ChangeNotifier();
  let suffix = 0;
  const { app, services } = createCoordinatorApp({
    store,
    clock: systemClock,
    clusterCidr: options.clusterCidr ?? '10.240.0.0/12',
    version: 'bench',
    randomSuffix: () => `b${(suffix += 1).toString(36)}`,
    notifier,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  await services.adminToken.adopt({
    secret: BENCH_ADMIN,
    home: { kind: 'configured' },
    source: 'bench',
  });
  const api: Api = async (method, path, body) => {
    const response = await app.request(`/v1${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_ADMIN}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
  return { app, services, notifier, api };
}
