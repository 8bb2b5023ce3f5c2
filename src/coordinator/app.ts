import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { InternalError, isMvmError, type MvmError } from '../core/errors.ts';
import { routes, type RouteDef, type RouteName } from '../contract/api.ts';
import type { Clock } from '../ports/clock.ts';
import type { Store } from '../ports/store.ts';
import { ChangeNotifier } from './desired/change-notifier.ts';
import { ephemeralSigningKey, type SigningKey } from './desired/signing-key.ts';
import { createHandlers, type Handlers } from './handlers.ts';
import { httpStatusOf } from './http-status.ts';
import { buildOpenApi } from './openapi.ts';
import type { Principal } from './principal.ts';
import { parseRouteInput } from './route-input.ts';
import { createServices, type Services } from './services/index.ts';

export interface AppLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface CoordinatorAppDeps {
  store: Store;
  clock: Clock;
  clusterCidr: string;
  version: string;
  randomSuffix: () => string;
  logger?: AppLogger;
  /** Signs desired-state documents; serve.ts passes the persisted key, else an ephemeral one. */
  signingKey?: SigningKey;
  /** Shared by apps in one process that share a store; one per app otherwise. */
  notifier?: ChangeNotifier;
  /** How often long-polling watchers re-read the store for other replicas' changes. */
  desiredPollMs?: number;
}

export interface CoordinatorApp {
  app: Hono;
  services: Services;
}

function errorResponse(c: Context, error: MvmError) {
  const body = {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
    },
  };
  return c.json(body, httpStatusOf[error.code]);
}

function register(
  app: Hono,
  name: RouteName,
  def: RouteDef,
  handlers: Handlers,
  services: Services,
): void {
  const handler = handlers[name] as (input: {
    principal: Principal;
    params: unknown;
    query: unknown;
    body: unknown;
  }) => Promise<unknown>;
  app.on(def.method.toUpperCase(), `/v1${def.path}`, async (c) => {
    const principal: Principal =
      def.scope === 'public'
        ? { kind: 'admin', tokenName: 'public' }
        : await services.tokens.authenticate(c.req.header('authorization'));
    const input = await parseRouteInput(c, def);
    const result = await handler({ principal, ...input });
    return c.json(result as object, def.status);
  });
}

/** The coordinator's HTTP surface, built from the contract's route table. No listening here. */
export function createCoordinatorApp(deps: CoordinatorAppDeps): CoordinatorApp {
  const services = createServices({
    ...deps,
    signingKey: deps.signingKey ?? ephemeralSigningKey(),
    notifier: deps.notifier ?? new ChangeNotifier(),
  });
  const handlers = createHandlers(services, { version: deps.version, store: deps.store.dialect });
  const openapi = buildOpenApi(deps.version);
  const app = new Hono();
  app.use('*', bodyLimit({ maxSize: 1024 * 1024 }));
  app.get('/v1/openapi.json', (c) => c.json(openapi));
  for (const [name, def] of Object.entries(routes) as [RouteName, RouteDef][]) {
    register(app, name, def, handlers, services);
  }
  app.notFound((c) =>
    c.json(
      {
        error: {
          code: 'not_found',
          message: `no API route ${c.req.method} ${c.req.path}; see /v1/openapi.json`,
        },
      },
      404,
    ),
  );
  app.onError((error, c) => {
    if (isMvmError(error)) {
      if (error.code === 'internal') deps.logger?.error({ err: error }, 'internal error');
      return errorResponse(c, error);
    }
    deps.logger?.error({ err: error, path: c.req.path }, 'unhandled error');
    return errorResponse(c, new InternalError('internal error; see the coordinator log'));
  });
  return { app, services };
}
