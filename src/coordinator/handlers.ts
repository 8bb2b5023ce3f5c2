import type { z } from 'zod';
import type { JsonRouteName, Routes, RouteName, WebSocketRouteName } from '../contract/api.ts';
import { MAX_EVENT_ID, MAX_WATCH_CURSOR, watchCursorSchema } from '../contract/requests.ts';
import type { Access } from './access.ts';
import { createListHandlers } from './list-handlers.ts';
import { actorOf } from './principal.ts';
import type { SocketSession } from './services/exec-service.ts';
import type { Services } from './services/index.ts';
import { sseResponse } from './services/sse-poll.ts';

type Field<R, F extends string> =
  R extends Record<F, infer S extends z.ZodType> ? z.output<S> : undefined;

/** A request that passed its route's scope check, with its validated input. */
export type HandlerInput<K extends RouteName> = Access<Routes[K]['scope']> & {
  params: Field<Routes[K], 'params'>;
  query: Field<Routes[K], 'query'>;
  body: Field<Routes[K], 'body'>;
  /** The request itself: its byte body (upload routes) and headers such as Range. */
  request: Request;
};

/** A list route answers its whole list or, asked for one (contract/paging.ts), a page. */
type Answer<R> = R extends { response: infer A extends z.ZodType }
  ? z.input<A> | (R extends { page: infer P extends z.ZodType } ? z.input<P> : never)
  : never;

export type Handlers = {
  [K in JsonRouteName]: (input: HandlerInput<K>) => Promise<Answer<Routes[K]>>;
};

/** WebSocket routes give the session to run on the upgraded socket. */
export type SocketHandlers = {
  [K in WebSocketRouteName]: (input: HandlerInput<K>) => Promise<SocketSession>;
};

export function createSocketHandlers(s: Services): SocketHandlers {
  return {
    nodeTunnel: ({ params }) => s.exec.tunnel(params.node),
    execInstance: ({ principal, params, ticketId }) =>
      s.exec.session(
        principal,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        'exec',
        ticketId,
      ),
    workerExec: ({ principal, params, query }) =>
      s.exec.workers.session(
        principal,
        params.node,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        query,
      ),
    instanceLogs: ({ principal, params, ticketId }) =>
      s.exec.session(
        principal,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        'logs',
        ticketId,
      ),
  };
}

/**
 * Binds each route of the contract to a service call, and nothing else: who may call a route
 * is its declared scope, enforced before any handler runs (access.ts), and what follows a
 * write (placement, waking watchers) is the services' business.
 */
export function createHandlers(s: Services, meta: { version: string; store: string }): Handlers {
  return {
    ...createListHandlers(s),
    health: async () => ({ ok: true, version: meta.version, store: meta.store }),

    createTenant: ({ principal, body }) => s.tenants.create(principal, body),
    getTenant: ({ params }) => s.tenants.get(params.tenant),
    updateTenant: ({ principal, params, body }) => s.tenants.update(principal, params.tenant, body),
    destroyTenant: ({ principal, params, query }) =>
      s.tenants.destroy(principal, params.tenant, query.force ?? false),
    createToken: ({ principal, params, body }) => s.tokens.issue(principal, params.tenant, body),
    createSessionTicket: ({ principal, params, body }) =>
      s.sessionTickets.issue(
        principal,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        body.session,
      ),
    revokeToken: ({ principal, params }) => s.tokens.revoke(principal, params.token),
    revokeTenantToken: ({ principal, params }) =>
      s.tokens.revoke(principal, params.token, params.tenant),
    rotateAdminToken: ({ principal }) => s.adminToken.rotate(actorOf(principal)),

    createPool: ({ principal, params, body }) => s.pools.create(principal, params.tenant, body),
    getPool: async ({ params }) => ({
      ...(await s.pools.get(params.tenant, params.pool)),
      rollout: await s.rollouts.get(params.tenant, params.pool),
    }),
    updatePool: ({ principal, params, body }) =>
      s.pools.update(principal, params.tenant, params.pool, body),
    autoscalePool: ({ principal, params, body }) =>
      s.queueWake.setScale(
        principal,
        params.tenant,
        params.pool,
        body.queue
          ? {
              min: body.min,
              max: body.max,
              ...(body.shrinkAfterSecs === undefined
                ? {}
                : { shrinkAfterSecs: body.shrinkAfterSecs }),
            }
          : null,
      ),
    scalePool: ({ principal, params, body }) =>
      s.pools.scale(principal, params.tenant, params.pool, body),
    destroyPool: ({ principal, params, query }) =>
      s.pools.destroy(principal, params.tenant, params.pool, query.force ?? false),

    getInstance: ({ params }) =>
      s.instances.get({
        tenantId: params.tenant,
        poolId: params.pool,
        instanceId: params.instance,
      }),
    instanceAction: ({ principal, params, body }) =>
      s.instances.act(
        principal,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        body,
      ),
    reportInstanceStatus: ({ params, body }) =>
      s.instances.report(
        params.node,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        body,
      ),
    reportInstanceWake: ({ params, body }) =>
      s.instances.reportWake(
        params.node,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        body,
      ),
    nodeHeartbeat: ({ params, body }) => s.health.heartbeat(params.node, body),
    watchNodeDesired: ({ params, query }) =>
      s.desired.watch(params.node, query.after, query.waitMs, {
        delta: query.delta === true,
        manifest: query.manifest === true,
        changes: query.changes === true,
      }),
    createJoinToken: ({ principal, body }) => s.join.issueToken(principal, body),
    joinNode: ({ body }) => s.join.join(body),
    rotateNodeCertificate: ({ principal, body }) => s.join.rotate(principal, body.csrPem),
    revokeNode: ({ principal, params }) => s.join.revoke(principal, params.node),
    drainPlan: ({ params }) => s.nodes.drainPlan(params.node),
    cordonNode: ({ principal, params }) => s.nodes.setCordon(principal, params.node, 'cordon'),
    uncordonNode: ({ principal, params }) => s.nodes.setCordon(principal, params.node, 'uncordon'),
    drainNode: ({ principal, params }) => s.moves.drain(principal, params.node),
    moveInstance: ({ principal, params, body }) =>
      s.moves.request(
        principal,
        { tenantId: params.tenant, poolId: params.pool, instanceId: params.instance },
        body,
      ),
    getMove: ({ params }) => s.moves.get(params.move),
    nodeMoves: ({ params }) => s.moveReports.forNode(params.node),
    reportMove: ({ principal, params, body }) =>
      s.moveReports.report(principal, params.node, params.move, body),
    putMovePart: ({ params, query, request }) =>
      s.moveRelay.put(params.node, params.move, params.part, query.offset, request.body),
    getMovePart: ({ params, request }) =>
      s.moveRelay.get(
        params.node,
        params.move,
        params.part,
        request.headers.get('range') ?? undefined,
      ),
    getSigningKey: async () => s.desired.signingKey(),
    runScheduler: () => s.scheduler.schedule(),

    getNode: ({ params }) => s.nodes.get(params.node),
    registerNode: ({ principal, params, body }) => s.nodes.register(principal, params.node, body),

    followEvents: async ({ tenant, query, request }) => {
      const header = request.headers.get('last-event-id');
      const resume =
        header !== null && /^\d{1,10}$/.test(header) && Number(header) <= MAX_EVENT_ID
          ? Number(header)
          : query.after;
      return sseResponse(await s.eventStream.open(tenant, resume, request.signal));
    },
    watchInstances: async ({ tenant, query, request }) => {
      const filter = {
        ...(tenant !== undefined ? { tenantId: tenant } : {}),
        ...(query.pool !== undefined ? { poolId: query.pool } : {}),
        ...(query.node !== undefined ? { nodeId: query.node } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
      };
      // The cursor of the last batch the client saw: a Last-Event-ID header wins over ?since=.
      const header = request.headers.get('last-event-id');
      const cursor =
        header !== null && watchCursorSchema.safeParse(header).success ? header : query.since;
      const since = cursor === undefined ? undefined : Math.min(Number(cursor), MAX_WATCH_CURSOR);
      return sseResponse(await s.instanceWatch.open(filter, request.signal, since));
    },
    metrics: async ({ principal, tenant }) => {
      const scrape = await s.metrics.scrape(tenant, principal.kind === 'admin');
      return new Response(scrape.text, { headers: { 'content-type': scrape.contentType } });
    },

    getNodeReport: ({ params }) => s.reports.node(params.node),
    getInstanceStats: ({ params }) =>
      s.reports.instance({
        tenantId: params.tenant,
        poolId: params.pool,
        instanceId: params.instance,
      }),
    setSecrets: ({ principal, params, body }) => s.secrets.set(principal, params.tenant, body),
    rotateSecrets: ({ principal, params, body }) =>
      s.secrets.rotate(principal, params.tenant, body),
    unsetSecrets: ({ principal, params, body }) => s.secrets.unset(principal, params.tenant, body),
    nodeSecrets: ({ params }) => s.secrets.forNode(params.node, params.tenant, params.pool),
    submitJob: ({ principal, params, body }) => s.jobs.submit(principal, params.tenant, body),
    getJob: ({ params }) => s.jobs.get(params.tenant, params.job),
    jobLogs: ({ params }) => s.jobs.logs(params.tenant, params.job),
    cancelJob: ({ principal, params }) => s.jobs.cancel(principal, params.tenant, params.job),
    retryJob: ({ principal, params }) => s.jobs.retry(principal, params.tenant, params.job),
    claimJobs: ({ params, body }) => s.jobs.claim(params.node, body),
    heartbeatJob: ({ params, body }) =>
      s.jobs.heartbeat(params.node, params.job, body.token, body.leaseMs),
    completeJob: ({ params, body }) => s.jobs.complete(params.node, params.job, body),
    jobModule: ({ params, body }) => s.journal.module(params.node, params.job, body.token),
    jobJournal: ({ params, body }) => s.journal.entries(params.node, params.job, body.token),
    recordEffect: ({ params, body }) => s.journal.record(params.node, params.job, body),
    markEffectSent: ({ params, body }) =>
      s.journal.markSent(params.node, params.job, params.seq, body.token),
    completeEffect: ({ params, body }) =>
      s.journal.complete(params.node, params.job, params.seq, body),
    parkJob: ({ params, body }) => s.journal.park(params.node, params.job, body),
    getPoolConfig: ({ params }) => s.poolConfigs.get(params.tenant, params.pool),
    setPoolConfig: ({ principal, params, body }) =>
      s.poolConfigs.set(principal, params.tenant, params.pool, body),
    unsetPoolConfig: ({ principal, params, body }) =>
      s.poolConfigs.unset(principal, params.tenant, params.pool, body),

    uploadSource: ({ params, request }) =>
      s.builds.upload(params.tenant, params.digest, request.body),
    startBuild: ({ principal, params, body }) =>
      s.builds.start(principal, params.tenant, params.pool, body),
    getBuild: ({ params, query }) =>
      s.builds.progress(params.tenant, params.pool, params.build, query.logFrom),
    startRollout: ({ principal, params, body }) =>
      s.rollouts.start(principal, params.tenant, params.pool, body),
    rollbackPool: ({ principal, params }) =>
      s.rollouts.rollback(principal, params.tenant, params.pool),
    getRevisionLog: ({ params }) => s.builds.log(params.tenant, params.pool, params.revision),
    nodeRevision: ({ params }) => s.nodeArtifacts.manifest(params.node, params.revision),
    nodeArtifact: ({ params, request }) =>
      s.nodeArtifacts.artifact(
        params.node,
        params.digest,
        request.headers.get('range') ?? undefined,
      ),
  };
}
