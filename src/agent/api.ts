import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Context } from 'hono';
import type { ZodType } from 'zod';
import {
  InternalError,
  isMvmError,
  PayloadTooLargeError,
  ValidationError,
} from '../core/errors.ts';
import type { MvmError } from '../core/errors.ts';
import {
  LOCAL_API_PREFIX,
  localActionBodySchema,
  localInstanceParamsSchema,
  nodeGcRequestSchema,
  putInstanceBodySchema,
  workloadLogsQuerySchema,
} from '../contract/agent-api.ts';
import { MAX_REQUEST_BODY_BYTES } from '../contract/api.ts';
import { httpStatusOf } from '../contract/http-status.ts';
import type { Logger } from '../ports/logger.ts';
import type { HostNetworkState } from '../ports/network.ts';
import { collectNodeGarbage } from './gc/node-gc.ts';
import type { RuntimeDeps } from './runtime/deps.ts';
import type { InstanceRef, InstanceRuntime } from './runtime/instance-runtime.ts';
import { collectStats, tailConsole, toLocalInstance } from './runtime/stats.ts';

const INSTANCE = '/tenants/:tenant/pools/:pool/instances/:instance';

function parse<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`);
  throw new ValidationError(`invalid ${what}`, problems);
}

function refOf(c: Context): InstanceRef {
  const params = parse(localInstanceParamsSchema, c.req.param(), 'path');
  return { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance };
}

async function bodyOf(c: Context): Promise<unknown> {
  return c.req.json().catch(() => {
    throw new ValidationError('the request body is not JSON');
  });
}

function errorResponse(c: Context, error: MvmError): Response {
  const details = error.details ? { details: error.details } : {};
  return c.json(
    { error: { code: error.code, message: error.message, ...details } },
    httpStatusOf[error.code],
  );
}

/** The desired tenant network `mvm net verify` checks the kernel against. */
async function localNetwork(
  deps: RuntimeDeps,
): Promise<{ enabled: boolean; netns?: string; state: HostNetworkState }> {
  const network = deps.network;
  if (!network) return { enabled: false, state: { tenants: [], instances: [] } };
  const netns = network.netns;
  return { enabled: true, ...(netns ? { netns } : {}), state: await network.desired() };
}

/** The agent's local API; served on a unix socket only (see main.ts). */
export function createAgentApp(runtime: InstanceRuntime, deps: RuntimeDeps, logger: Logger): Hono {
  const app = new Hono().basePath(LOCAL_API_PREFIX);
  // Only root reaches the socket, but a runaway script must not fill the agent's memory.
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_REQUEST_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(MAX_REQUEST_BODY_BYTES);
      },
    }),
  );
  app.get('/instances', async (c) => c.json((await runtime.list()).map(toLocalInstance)));
  app.put(INSTANCE, async (c) => {
    const body = parse(putInstanceBodySchema, await bodyOf(c), 'body');
    return c.json(toLocalInstance(await runtime.put(refOf(c), body)));
  });
  app.post(`${INSTANCE}/actions`, async (c) => {
    const { action } = parse(localActionBodySchema, await bodyOf(c), 'body');
    return c.json(toLocalInstance(await runtime.act(refOf(c), action)));
  });
  app.get(INSTANCE, async (c) => c.json(await collectStats(deps, await runtime.get(refOf(c)))));
  app.get(`${INSTANCE}/logs`, async (c) => {
    const lines = Math.min(10_000, Math.max(1, Number(c.req.query('lines') ?? 100) || 100));
    return c.json(await tailConsole(deps, await runtime.get(refOf(c)), lines));
  });
  app.get(`${INSTANCE}/workload-logs`, async (c) => {
    const query = parse(workloadLogsQuerySchema, c.req.query(), 'query');
    const ref = refOf(c);
    const view = await runtime.workloadLogs(ref, query);
    return c.json({ key: runtime.keyOf(ref), ...view });
  });
  app.get('/network', async (c) => c.json(await localNetwork(deps)));
  app.get('/metrics', async () => metricsResponse(deps));
  app.post('/gc', async (c) => {
    const { dryRun } = parse(nodeGcRequestSchema, await bodyOf(c), 'body');
    return c.json(await collectNodeGarbage(runtime, deps, { dryRun }));
  });
  app.onError((error, c) => {
    if (isMvmError(error)) {
      if (error.code === 'internal' || error.code === 'host_failure')
        logger.error({ err: error.message }, 'request failed');
      return errorResponse(c, error);
    }
    logger.error({ err: String(error), path: c.req.path }, 'unhandled error');
    return errorResponse(c, new InternalError('internal error; see the agent log'));
  });
  return app;
}

/** Prometheus's text format of the agent's metrics (docs/metrics.md); 404 without them. */
export async function metricsResponse(deps: RuntimeDeps): Promise<Response> {
  if (!deps.metrics) {
    return Response.json(
      { error: { code: 'not_found', message: 'this agent keeps no metrics' } },
      { status: 404 },
    );
  }
  const scrape = await deps.metrics.render();
  return new Response(scrape.text, { headers: { 'content-type': scrape.contentType } });
}
