import { isMvmError } from '../core/errors.ts';
import type { z } from 'zod';
import { routes } from '../contract/api.ts';
import type { RouteDef, Routes, RouteName } from '../contract/api.ts';
import type { Principal } from './principal.ts';
import { requireAdmin, requireNodeOrAdmin, scopeTenant } from './principal.ts';
import type { Services } from './services/index.ts';

type Field<R, F extends string> =
  R extends Record<F, infer S extends z.ZodType> ? z.output<S> : undefined;

export interface HandlerInput<K extends RouteName> {
  principal: Principal;
  params: Field<Routes[K], 'params'>;
  query: Field<Routes[K], 'query'>;
  body: Field<Routes[K], 'body'>;
}

export type Handlers = {
  [K in RouteName]: (input: HandlerInput<K>) => Promise<z.input<Routes[K]['response']>>;
};

/**
 * Heartbeats arrive every few seconds from every node and rarely change a document; their
 * service wakes the watchers itself when one does (a node recovered, capacity changed).
 */
const selfNotifying: ReadonlySet<RouteName> = new Set(['nodeHeartbeat']);

/**
 * Every other route that is not a GET may change some node's desired-state document (scale,
 * instance actions and reports, placement, destroys), so each one wakes the local watchers
 * when it finishes, even when it failed half-way: a spurious wake only costs a re-read.
 */
function notifyingMutations(handlers: Handlers, changed: () => void): Handlers {
  const wrapped: Record<string, unknown> = { ...handlers };
  for (const [name, def] of Object.entries(routes) as [RouteName, RouteDef][]) {
    if (def.method === 'get' || selfNotifying.has(name)) continue;
    const handler = handlers[name] as (input: unknown) => Promise<unknown>;
    wrapped[name] = async (input: unknown) => {
      try {
        return await handler(input);
      } finally {
        changed();
      }
    };
  }
  return wrapped as Handlers;
}

/** Binds each route of the contract to a service call, after the scope check it needs. */
export function createHandlers(s: Services, meta: { version: string; store: string }): Handlers {
  return notifyingMutations(bindHandlers(s, meta), () => s.desired.changed());
}

function bindHandlers(s: Services, meta: { version: string; store: string }): Handlers {
  // Placement follows every change of intent or capacity. The response reports the change
  // itself; the placement shows in the instances' nodeId on the next read.
  const scheduled = async <T>(result: T): Promise<T> => {
    try {
      await s.scheduler.schedule();
    } catch (error) {
      // The change itself is committed; a placement that lost a race with another replica is
      // redone by the next scheduling pass, so the caller must not see a failure.
      if (!(isMvmError(error) && error.code === 'conflict')) throw error;
    }
    return result;
  };
  const tenantOf = (principal: Principal, tenant: string) =>
    scopeTenant(principal, tenant) ?? tenant;
  return {
    health: async () => ({ ok: true, version: meta.version, store: meta.store }),

    createTenant: async ({ principal, body }) => {
      requireAdmin(principal);
      return s.tenants.create(principal, body);
    },
    listTenants: async ({ principal }) => s.tenants.list(principal),
    getTenant: async ({ principal, params }) => s.tenants.get(tenantOf(principal, params.tenant)),
    updateTenant: async ({ principal, params, body }) => {
      requireAdmin(principal, params.tenant);
      return s.tenants.update(principal, params.tenant, body);
    },
    destroyTenant: async ({ principal, params, query }) => {
      requireAdmin(principal, params.tenant);
      return s.tenants.destroy(principal, params.tenant, query.force ?? false);
    },
    createToken: async ({ principal, params, body }) => {
      requireAdmin(principal, params.tenant);
      return s.tokens.issue(principal, params.tenant, body.name);
    },
    listTokens: async ({ principal, params }) => {
      requireAdmin(principal, params.tenant);
      return s.tokens.list(params.tenant);
    },

    createPool: async ({ principal, params, body }) =>
      s.pools.create(principal, tenantOf(principal, params.tenant), body),
    listPools: async ({ principal, params }) => s.pools.list(tenantOf(principal, params.tenant)),
    getPool: async ({ principal, params }) =>
      s.pools.get(tenantOf(principal, params.tenant), params.pool),
    updatePool: async ({ principal, params, body }) =>
      s.pools.update(principal, tenantOf(principal, params.tenant), params.pool, body),
    scalePool: async ({ principal, params, body }) =>
      scheduled(
        await s.pools.scale(principal, tenantOf(principal, params.tenant), params.pool, body),
      ),
    destroyPool: async ({ principal, params, query }) =>
      s.pools.destroy(
        principal,
        tenantOf(principal, params.tenant),
        params.pool,
        query.force ?? false,
      ),

    listInstances: async ({ principal, query }) => {
      const tenantId = scopeTenant(principal, query.tenant);
      return s.instances.list({
        ...(tenantId !== undefined ? { tenantId } : {}),
        ...(query.pool !== undefined ? { poolId: query.pool } : {}),
        ...(query.node !== undefined ? { nodeId: query.node } : {}),
      });
    },
    getInstance: async ({ principal, params }) =>
      s.instances.get({
        tenantId: tenantOf(principal, params.tenant),
        poolId: params.pool,
        instanceId: params.instance,
      }),
    instanceAction: async ({ principal, params, body }) =>
      scheduled(
        await s.instances.act(
          principal,
          {
            tenantId: tenantOf(principal, params.tenant),
            poolId: params.pool,
            instanceId: params.instance,
          },
          body,
        ),
      ),
    reportInstanceStatus: async ({ principal, params, body }) => {
      requireNodeOrAdmin(principal, params.node);
      const { node, tenant, pool, instance } = params;
      return s.instances.report(
        node,
        { tenantId: tenant, poolId: pool, instanceId: instance },
        body,
      );
    },
    nodeHeartbeat: async ({ principal, params, body }) => {
      requireNodeOrAdmin(principal, params.node);
      return s.health.heartbeat(params.node, body);
    },
    watchNodeDesired: async ({ principal, params, query }) => {
      requireNodeOrAdmin(principal, params.node);
      return s.desired.watch(params.node, query.after, query.waitMs);
    },
    createJoinToken: async ({ principal, body }) => {
      requireAdmin(principal);
      return s.join.issueToken(principal, body);
    },
    joinNode: async ({ body }) => scheduled(await s.join.join(body)),
    rotateNodeCertificate: async ({ principal, params, body }) =>
      s.join.rotate(principal, params.node, body.csrPem),
    revokeNode: async ({ principal, params }) => {
      requireAdmin(principal);
      return s.join.revoke(principal, params.node);
    },
    getSigningKey: async () => s.desired.signingKey(),
    runScheduler: async ({ principal }) => {
      requireAdmin(principal);
      return s.scheduler.schedule();
    },

    listNodes: async ({ principal }) => {
      requireAdmin(principal);
      return s.nodes.list();
    },
    getNode: async ({ principal, params }) => {
      requireAdmin(principal);
      return s.nodes.get(params.node);
    },
    registerNode: async ({ principal, params, body }) => {
      requireAdmin(principal);
      return scheduled(await s.nodes.register(principal, params.node, body));
    },

    listEvents: async ({ principal, query }) => {
      const tenantId = scopeTenant(principal, query.tenant);
      // A destroyed tenant's history stays readable to the admin.
      if (tenantId !== undefined && principal.kind !== 'admin') await s.tenants.require(tenantId);
      return s.events.list({ ...(tenantId !== undefined ? { tenantId } : {}), limit: query.last });
    },
  };
}
