import { Hono, type Context } from 'hono';
import {
  InternalError,
  isMvmError,
  StoreUnavailableError,
  ValidationError,
  type MvmError,
} from '../core/errors.ts';
import {
  routes,
  type JsonRouteName,
  type RouteDef,
  type RouteName,
  type WebSocketRouteName,
} from '../contract/api.ts';
import type { CertificateAuthority } from '../ports/certificate-authority.ts';
import type { Clock } from '../ports/clock.ts';
import type { Store } from '../ports/store.ts';
import { ChangeNotifier } from './desired/change-notifier.ts';
import { ephemeralSigningKey, type SigningKey } from './desired/signing-key.ts';
import {
  createHandlers,
  createSocketHandlers,
  type Handlers,
  type SocketHandlers,
} from './handlers.ts';
import { httpStatusOf } from '../contract/http-status.ts';
import type { AdminTokenHome } from './admin-token.ts';
import {
  requireScope,
  scopeCheck,
  type Access,
  type AccessEnv,
  type Credentials,
} from './access.ts';
import { authenticateNode, type PeerCertificate } from './node-auth.ts';
import { clientWentAway } from './client-gone.ts';
import { buildOpenApi } from './openapi.ts';
import { bodyLimits } from './body-limits.ts';
import { parseRouteInput, type ParsedInput } from './route-input.ts';
import { jsonAnswer, requestIds, requestLogger, requestStateOf } from './request-ids.ts';
import { ephemeralKeyring, type Keyring } from './secrets/keyring.ts';
import type { ExecTimeouts, SocketSession } from './services/exec-service.ts';
import { createServices, type Services } from './services/index.ts';
import type { JobSettings } from './services/job-service.ts';
import { upgradeOf } from './websocket-upgrade.ts';
import type { Logger } from '../ports/logger.ts';
import type { ImageDeps } from './builds/image-deps.ts';
import { registerDashboard } from '../dashboard/dashboard-routes.ts';
import { DEFAULT_NODE_LOST_AFTER_MS } from '../core/node-loss.ts';

export interface CoordinatorAppDeps {
  store: Store;
  clock: Clock;
  clusterCidr: string;
  version: string;
  randomSuffix: () => string;
  logger?: Logger;
  /** Signs desired-state documents; serve.ts passes the persisted key, else an ephemeral one. */
  signingKey?: SigningKey;
  /** Shared by apps in one process that share a store; one per app otherwise. */
  notifier?: ChangeNotifier;
  /** How often long-polling watchers re-read the store for other replicas' changes. */
  desiredPollMs?: number;
  /** A waiting watcher's document is recomputed at least this often (a safety net only). */
  desiredRefreshMs?: number;
  /** Issues node certificates; without it joining answers 503. */
  ca?: CertificateAuthority;
  nodeCertValidityMs?: number;
  /** A ready node silent for longer than this is declared lost; default 30 s. */
  nodeLostAfterMs?: number;
  /** Where the admin token lives, for rotation (serve.ts); without it rotation is refused. */
  adminTokenHome?: AdminTokenHome;
  /** Seals and opens tenant secrets; serve.ts passes the configured one, else an ephemeral one. */
  secretsKeyring?: Keyring;
  /** The TLS client certificate of a request, when the listener is HTTPS (serve.ts). */
  peerCertificate?: (c: Context) => PeerCertificate | undefined;
  /** How long sessions wait for their start, a woken instance and a node's tunnel. */
  execTimeouts?: Partial<ExecTimeouts>;
  /** Job quota, module memory limit and retry policy; defaults when absent. */
  jobs?: JobSettings;
  /** The artifact store, uploads and builders; without them builds and artifacts answer 503. */
  images?: ImageDeps;
  /** Where moves' bundles are relayed (`<data dir>/moves`); without it their parts answer 503. */
  moveRelayDir?: string;
  /** Bytes of one move the relay holds at once (services/move-relay.ts); default 1 GiB. */
  moveRelayMaxBytes?: number;
}

export interface CoordinatorApp {
  app: Hono<AccessEnv>;
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
  const retryAfter = error.details?.retryAfterSeconds;
  const headers =
    typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : undefined;
  return jsonAnswer(c, body, httpStatusOf[error.code], headers);
}

function credentialsFor(deps: CoordinatorAppDeps, services: Services): Credentials {
  return {
    token: (authorization) => services.tokens.authenticate(authorization),
    certificate: async (c, nodeId) => {
      const peer = deps.peerCertificate?.(c);
      return peer === undefined ? undefined : authenticateNode(deps, peer, nodeId);
    },
    ticket: (secret, claim) => services.sessionTickets.redeem(secret, claim),
  };
}

function register(
  app: Hono<AccessEnv>,
  name: JsonRouteName,
  def: RouteDef,
  handlers: Handlers,
  credentials: Credentials,
): void {
  const handler = handlers[name] as (
    input: Access & ParsedInput & { request: Request },
  ) => Promise<unknown>;
  const check = scopeCheck(name, def, credentials);
  // The scope check, the input and the handler in one step of hono's chain (each step is
  // promises more, each paying the request id's async hooks); requestIds observes the
  // latency under the route's name, whatever the request was answered.
  app.on(def.method.toUpperCase(), `/v1${def.path}`, async (c) => {
    const state = requestStateOf(c);
    if (state !== undefined) state.route = name;
    const access = await check(c);
    const input = await parseRouteInput(c, def);
    const result = await handler({ ...access, ...input, request: c.req.raw });
    // A download route answers its bytes (a Response), sent as it is; every other route JSON.
    if (!(result instanceof Response)) return jsonAnswer(c, result, def.status);
    if (state !== undefined) state.headersDone = true;
    return result;
  });
}

/**
 * A WebSocket route: the same scope check and input validation as any route, on the upgrade
 * request; its handler gives the session, which the listener runs once the socket is open
 * (websocket-upgrade.ts). A plain request is answered 400: there is nothing to answer it with.
 */
function registerSocket(
  app: Hono<AccessEnv>,
  name: WebSocketRouteName,
  def: RouteDef,
  handlers: SocketHandlers,
  credentials: Credentials,
): void {
  const handler = handlers[name] as (input: Access & ParsedInput) => Promise<SocketSession>;
  app.get(`/v1${def.path}`, requireScope(name, def, credentials), async (c) => {
    const input = await parseRouteInput(c, def);
    const upgrade = upgradeOf(c);
    if (upgrade === undefined) {
      throw new ValidationError(
        `${def.path} is a WebSocket route: connect with 'Upgrade: websocket' (as 'mvm instance exec' does); see /v1/openapi.json`,
      );
    }
    upgrade.accept(await handler({ ...c.get('access'), ...input }));
    return c.body(null, 200);
  });
}

function logged(deps: CoordinatorAppDeps, error: MvmError): void {
  if (error.code === 'internal') deps.logger?.error({ err: error }, 'internal error');
  if (error instanceof StoreUnavailableError) {
    deps.logger?.warn({ reason: error.reason }, 'database unavailable; answered 503');
  }
}

/** The coordinator's HTTP surface, built from the contract's route table. No listening here. */
export function createCoordinatorApp(given: CoordinatorAppDeps): CoordinatorApp {
  // Every line logged while serving a request carries its id (request-ids.ts).
  const deps = given.logger ? { ...given, logger: requestLogger(given.logger) } : given;
  const services = createServices({
    ...deps,
    signingKey: deps.signingKey ?? ephemeralSigningKey(),
    notifier: deps.notifier ?? new ChangeNotifier(),
    keyring: deps.secretsKeyring ?? ephemeralKeyring(),
  });
  const handlers = createHandlers(services, { version: deps.version, store: deps.store.dialect });
  const socketHandlers = createSocketHandlers(services);
  const openapi = buildOpenApi(deps.version);
  const credentials = credentialsFor(deps, services);
  const app = new Hono<AccessEnv>();
  app.use('*', requestIds(deps.logger, services.metrics.process));
  app.use('*', bodyLimits());
  app.get('/v1/openapi.json', (c) => jsonAnswer(c, openapi, 200));
  for (const [name, def] of Object.entries(routes) as [RouteName, RouteDef][]) {
    if (def.websocket)
      registerSocket(app, name as WebSocketRouteName, def, socketHandlers, credentials);
    else register(app, name as JsonRouteName, def, handlers, credentials);
  }
  registerDashboard(
    app,
    { staleAfterMs: deps.nodeLostAfterMs ?? DEFAULT_NODE_LOST_AFTER_MS },
    credentials.token,
  );
  app.notFound((c) =>
    jsonAnswer(
      c,
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
      logged(deps, error);
      return errorResponse(c, error);
    }
    if (clientWentAway(error)) {
      // Routine (a closed laptop, a killed script, a timeout): nobody is left to answer.
      deps.logger?.debug({ method: c.req.method, path: c.req.path }, 'client went away');
      return new Response(null, { status: 499 });
    }
    deps.logger?.error({ err: error, path: c.req.path }, 'unhandled error');
    return errorResponse(c, new InternalError('internal error; see the coordinator log'));
  });
  return { app, services };
}
