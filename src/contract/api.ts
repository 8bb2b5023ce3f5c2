import { workerExecQuerySchema } from './worker-exec.ts';
import { z } from 'zod';
import {
  drainActionSchema,
  drainResultSchema,
  instanceMoveSchema,
  movePartQuerySchema,
  moveInstanceSchema,
  moveReportSchema,
} from './moves.ts';
import { bundlePartNameSchema } from './move-bundle.ts';
import { rolloutSchema, startRolloutSchema } from './rollouts.ts';
import { idSchema } from './common.ts';
import { pageQueryShape, pageQuerySchema, pageSchema } from './paging.ts';
import {
  desiredWatchQuerySchema,
  desiredWatchResponseSchema,
  signingKeySchema,
} from './desired.ts';
import { clientMessageSchema, serverMessageSchema, tunnelRequestSchema } from './exec.ts';
import { heartbeatResultSchema, heartbeatSchema } from './heartbeat.ts';
import {
  claimedJobsSchema,
  claimJobsSchema,
  completeJobSchema,
  jobHeartbeatSchema,
  jobListQuerySchema,
  jobLogSchema,
  jobParams,
  jobSchema,
  leasedJobSchema,
  nodeJobParams,
  SUBMIT_BODY_BYTES,
  submitJobSchema,
  submittedJobSchema,
} from './jobs.ts';
import {
  completeEffectSchema,
  effectEntrySchema,
  effectParams,
  jobModuleSchema,
  journalSchema,
  leaseTokenSchema,
  parkJobSchema,
  recordEffectSchema,
} from './job-effects.ts';
import { instanceStatsSchema, nodeReportViewSchema } from './node-report.ts';
import {
  createJoinTokenSchema,
  issuedJoinTokenSchema,
  joinNodeSchema,
  joinResultSchema,
  nodeCertificateSchema,
  revokeResultSchema,
  rotateCertificateSchema,
} from './join.ts';
import {
  createPoolSchema,
  createTenantSchema,
  destroyQuerySchema,
  eventsQuerySchema,
  followEventsQuerySchema,
  instanceActionSchema,
  instanceListQuerySchema,
  instanceWatchQuerySchema,
  metricsQuerySchema,
  nodeListQuerySchema,
  registerNodeSchema,
  scalePoolSchema,
  statusReportSchema,
  poolAutoscaleSchema,
  wakeReportSchema,
  updatePoolSchema,
  updateTenantSchema,
} from './requests.ts';
import {
  auditEventSchema,
  instanceSchema,
  nodeSchema,
  poolDetailSchema,
  poolSchema,
  tenantDetailSchema,
  tenantSchema,
} from './resources.ts';
import {
  nodeSecretsParams,
  nodeSecretsSchema,
  poolConfigSchema,
  secretChangeSchema,
  secretListQuerySchema,
  secretSchema,
  setPoolConfigSchema,
  setSecretsSchema,
  unsetPoolConfigSchema,
  unsetResultSchema,
  unsetSecretsSchema,
} from './secrets.ts';
import {
  buildParams,
  buildProgressSchema,
  buildQuerySchema,
  MAX_UPLOAD_BYTES,
  nodeArtifactParams,
  nodeRevisionParams,
  revisionLogSchema,
  revisionManifestSchema,
  revisionParams,
  revisionSchema,
  startBuildSchema,
  uploadParams,
  uploadResultSchema,
} from './revisions.ts';
import {
  createSessionTicketSchema,
  sessionSocketQuerySchema,
  sessionTicketSchema,
} from './session-tickets.ts';
import {
  createTokenSchema,
  issuedTokenSchema,
  rotatedAdminTokenSchema,
  tokenListQuerySchema,
  tokenParams,
  tokenSchema,
} from './tokens.ts';

/**
 * The coordinator's HTTP API as data. The server registers handlers by route name and enforces
 * each route's scope in one middleware, the OpenAPI document is generated from it, and the
 * CLI's client calls routes by name: one source of truth for paths, permissions and shapes.
 */
export const scopes = {
  public: 'Anyone; no credentials.',
  admin:
    "The admin token. A tenant token gets 403, or, when the path names another tenant, that tenant's 404.",
  tenant:
    "The admin token, or a token of the tenant the path's :tenant names. Another tenant's token gets the 404 of a tenant that does not exist.",
  'tenant-list':
    "A list. The admin token sees every tenant's items (or those of ?tenant=); a tenant token sees only its own tenant's, and ?tenant= naming another tenant gets that tenant's 404.",
  node: "The client certificate (mTLS) of the node the path's :node names, or the admin token.",
  'node-certificate':
    "Only the client certificate (mTLS) of the node the path's :node names; no token stands in for it.",
} as const;

/** Who may call a route; `scopes` says what each one admits. */
export type Scope = keyof typeof scopes;

/** The largest request body the coordinator reads; a larger one is answered 413 unread. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

export interface RouteDef {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Hono-style path below /v1, e.g. `/tenants/:tenant`. */
  path: string;
  summary: string;
  /** Every route's permission, declared here and enforced from here (see `scopes`). */
  scope: Scope;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The JSON answer; for a WebSocket route, the messages its server side sends. */
  response: z.ZodType;
  /** 101: a WebSocket upgrade (see `websocket`). */
  status: 200 | 201 | 101;
  /**
   * A WebSocket route: the scope check and the path's validation run on the upgrade request,
   * like any route's; a plain request without the upgrade is answered 400.
   */
  websocket?: WebSocketDef;
  /** This route reads JSON bodies up to this size instead of MAX_REQUEST_BODY_BYTES. */
  maxBodyBytes?: number;
  /**
   * Bytes instead of JSON. `upload`: the body is application/octet-stream of at most
   * `maxBytes`, streamed to disk (never held in memory; the 1 MiB JSON limit does not apply).
   * `download`: the answer is the bytes (`response` is the Response itself), with Range.
   */
  stream?: { kind: 'upload'; maxBytes: number } | { kind: 'download' };
  /** Text instead of JSON: the answer (`response` is the Response itself) has this type. */
  text?: string;
  /** A list route's one page (paging.ts): the answer when the query has `limit` or `cursor`. */
  page?: z.ZodType;
}

/**
 * The largest body `def` reads; a larger one is answered 413 unread. An upload's route bounds
 * its body itself as it streams it to disk.
 */
export function bodyLimitOf(def: RouteDef): number {
  if (def.stream?.kind === 'upload') return def.stream.maxBytes;
  return def.maxBodyBytes ?? MAX_REQUEST_BODY_BYTES;
}

export interface WebSocketDef {
  /** How binary messages are framed. */
  binary: string;
  /** The JSON (text or control) messages each side sends. */
  client: z.ZodType;
  server: z.ZodType;
  /**
   * The session kind a ticket must be minted for to open this route with `?ticket=` instead
   * of an Authorization header (createSessionTicket); routes without it take no ticket.
   */
  ticket?: 'exec' | 'logs';
}

const tenantParams = z.strictObject({ tenant: idSchema });
const poolParams = tenantParams.extend({ pool: idSchema });
const instanceParams = poolParams.extend({ instance: idSchema });
const nodeParams = z.strictObject({ node: idSchema });
const moveParams = z.strictObject({ move: idSchema });
const nodeMoveParams = nodeParams.extend({ move: idSchema });
const nodeMovePartParams = nodeMoveParams.extend({
  part: bundlePartNameSchema,
});
const movePartHeldSchema = z.object({ part: z.string(), held: z.number(), whole: z.boolean() });

const healthSchema = z.object({ ok: z.literal(true), version: z.string(), store: z.string() });
const scaleResultSchema = z.object({
  pool: poolSchema,
  created: z.array(instanceSchema),
  changed: z.array(instanceSchema),
});
const destroyResultSchema = z.object({
  destroyed: z.object({ tenants: z.number(), pools: z.number(), instances: z.number() }),
});

const scheduleResultSchema = z.object({
  placed: z.array(z.object({ instance: z.string(), nodeId: z.string() })),
  unplaced: z.array(z.object({ instance: z.string(), reason: z.string() })),
});

function route<const R extends RouteDef>(def: R): R {
  return def;
}

export const routes = {
  health: route({
    method: 'get',
    path: '/health',
    summary: 'Liveness and store kind',
    scope: 'public',
    response: healthSchema,
    status: 200,
  }),

  createTenant: route({
    method: 'post',
    path: '/tenants',
    summary: 'Create a tenant with a stable /24',
    scope: 'admin',
    body: createTenantSchema,
    response: tenantSchema,
    status: 201,
  }),
  listTenants: route({
    method: 'get',
    path: '/tenants',
    summary: 'List tenants visible to the caller',
    scope: 'tenant-list',
    query: z.strictObject({ tenant: idSchema.optional(), ...pageQueryShape }),
    response: z.array(tenantSchema),
    page: pageSchema(tenantSchema),
    status: 200,
  }),
  getTenant: route({
    method: 'get',
    path: '/tenants/:tenant',
    summary: 'A tenant with its usage',
    scope: 'tenant',
    params: tenantParams,
    response: tenantDetailSchema,
    status: 200,
  }),
  updateTenant: route({
    method: 'patch',
    path: '/tenants/:tenant',
    summary: 'Change quotas',
    scope: 'admin',
    params: tenantParams,
    body: updateTenantSchema,
    response: tenantDetailSchema,
    status: 200,
  }),
  destroyTenant: route({
    method: 'delete',
    path: '/tenants/:tenant',
    summary: 'Destroy a tenant (force: with its pools and instances)',
    scope: 'admin',
    params: tenantParams,
    query: destroyQuerySchema,
    response: destroyResultSchema,
    status: 200,
  }),
  createToken: route({
    method: 'post',
    path: '/tenants/:tenant/tokens',
    summary: 'Issue a tenant-scoped API token (shown once), optionally expiring',
    scope: 'admin',
    params: tenantParams,
    body: createTokenSchema,
    response: issuedTokenSchema,
    status: 201,
  }),
  listTokens: route({
    method: 'get',
    path: '/tenants/:tenant/tokens',
    summary: "List a tenant's tokens (never the secrets)",
    scope: 'tenant',
    params: tenantParams,
    query: pageQuerySchema,
    response: z.array(tokenSchema),
    page: pageSchema(tokenSchema),
    status: 200,
  }),

  createPool: route({
    method: 'post',
    path: '/tenants/:tenant/pools',
    summary: 'Create a pool',
    scope: 'tenant',
    params: tenantParams,
    body: createPoolSchema,
    response: poolSchema,
    status: 201,
  }),
  listPools: route({
    method: 'get',
    path: '/tenants/:tenant/pools',
    summary: "List a tenant's pools",
    scope: 'tenant',
    params: tenantParams,
    query: pageQuerySchema,
    response: z.array(poolSchema),
    page: pageSchema(poolSchema),
    status: 200,
  }),
  getPool: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool',
    summary: 'A pool with its instance statuses',
    scope: 'tenant',
    params: poolParams,
    response: poolDetailSchema,
    status: 200,
  }),
  updatePool: route({
    method: 'patch',
    path: '/tenants/:tenant/pools/:pool',
    summary: 'Change pool flags or revision (never its role)',
    scope: 'tenant',
    params: poolParams,
    body: updatePoolSchema,
    response: poolSchema,
    status: 200,
  }),
  autoscalePool: route({
    method: 'put',
    path: '/tenants/:tenant/pools/:pool/autoscale',
    summary:
      'Drive a pool by its job queue: a submitted job raises idle-lowered workers at once, and adds workers when they are not enough; at least min and at most max awake',
    scope: 'tenant',
    params: poolParams,
    body: poolAutoscaleSchema,
    response: poolSchema,
    status: 200,
  }),
  scalePool: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/scale',
    summary: 'Set desired running/warm/sleeping counts',
    scope: 'tenant',
    params: poolParams,
    body: scalePoolSchema,
    response: scaleResultSchema,
    status: 200,
  }),
  destroyPool: route({
    method: 'delete',
    path: '/tenants/:tenant/pools/:pool',
    summary: 'Destroy a pool (force: with its instances)',
    scope: 'tenant',
    params: poolParams,
    query: destroyQuerySchema,
    response: destroyResultSchema,
    status: 200,
  }),

  listInstances: route({
    method: 'get',
    path: '/instances',
    summary: 'List instances, filtered by tenant/pool/node',
    scope: 'tenant-list',
    query: instanceListQuerySchema,
    response: z.array(instanceSchema),
    page: pageSchema(instanceSchema),
    status: 200,
  }),
  getInstance: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/instances/:instance',
    summary: 'An instance',
    scope: 'tenant',
    params: instanceParams,
    response: instanceSchema,
    status: 200,
  }),
  instanceAction: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/instances/:instance/actions',
    summary: 'Request start/stop/warm/sleep/wake/destroy (a desired-status change)',
    scope: 'tenant',
    params: instanceParams,
    body: instanceActionSchema,
    response: instanceSchema,
    status: 200,
  }),

  listNodes: route({
    method: 'get',
    path: '/nodes',
    summary: 'List nodes',
    scope: 'admin',
    query: nodeListQuerySchema,
    response: z.array(nodeSchema),
    page: pageSchema(nodeSchema),
    status: 200,
  }),
  getNode: route({
    method: 'get',
    path: '/nodes/:node',
    summary: 'A node',
    scope: 'admin',
    params: nodeParams,
    response: nodeSchema,
    status: 200,
  }),
  registerNode: route({
    method: 'put',
    path: '/nodes/:node',
    summary: 'Register or update a node and its capacity',
    scope: 'admin',
    params: nodeParams,
    body: registerNodeSchema,
    response: nodeSchema,
    status: 200,
  }),

  reportInstanceStatus: route({
    method: 'put',
    path: '/nodes/:node/instances/:tenant/:pool/:instance/status',
    summary: "An agent reports an instance's observed status",
    scope: 'node',
    params: nodeParams.extend({ tenant: idSchema, pool: idSchema, instance: idSchema }),
    body: statusReportSchema,
    response: instanceSchema,
    status: 200,
  }),
  reportInstanceWake: route({
    method: 'post',
    path: '/nodes/:node/instances/:tenant/:pool/:instance/wake',
    summary:
      'An agent woke an instance on a connection: it runs again, its idle window restarts, audited',
    scope: 'node',
    params: nodeParams.extend({ tenant: idSchema, pool: idSchema, instance: idSchema }),
    body: wakeReportSchema,
    response: instanceSchema,
    status: 200,
  }),
  nodeHeartbeat: route({
    method: 'post',
    path: '/nodes/:node/heartbeat',
    summary:
      "An agent's periodic sign of life: the node's capacity and usage, and when each of its instances was last active",
    scope: 'node',
    params: nodeParams,
    body: heartbeatSchema,
    response: heartbeatResultSchema,
    status: 200,
  }),
  watchNodeDesired: route({
    method: 'get',
    path: '/nodes/:node/desired',
    summary:
      "The node's signed desired-state document once its generation passes `after` (long-poll up to waitMs)",
    scope: 'node',
    params: nodeParams,
    query: desiredWatchQuerySchema,
    response: desiredWatchResponseSchema,
    status: 200,
  }),
  createJoinToken: route({
    method: 'post',
    path: '/nodes/join-tokens',
    summary: 'Issue a one-time join token for a new host (the secret is shown once)',
    scope: 'admin',
    body: createJoinTokenSchema,
    response: issuedJoinTokenSchema,
    status: 201,
  }),
  joinNode: route({
    method: 'post',
    path: '/nodes/join',
    summary: 'Exchange a one-time join token and a CSR for a node certificate',
    scope: 'public',
    body: joinNodeSchema,
    response: joinResultSchema,
    status: 201,
  }),
  rotateNodeCertificate: route({
    method: 'post',
    path: '/nodes/:node/certificate',
    summary: "Renew a node's certificate, authenticated by its current one",
    scope: 'node-certificate',
    params: nodeParams,
    body: rotateCertificateSchema,
    response: nodeCertificateSchema,
    status: 201,
  }),
  revokeNode: route({
    method: 'post',
    path: '/nodes/:node/revoke',
    summary: 'Revoke every certificate of a node and cordon it',
    scope: 'admin',
    params: nodeParams,
    response: revokeResultSchema,
    status: 200,
  }),
  cordonNode: route({
    method: 'post',
    path: '/nodes/:node/cordon',
    summary:
      'Cordon a node: it keeps what it runs and nothing new is placed there (idempotent; a lost node is refused)',
    scope: 'admin',
    params: nodeParams,
    response: nodeSchema,
    status: 200,
  }),
  uncordonNode: route({
    method: 'post',
    path: '/nodes/:node/uncordon',
    summary:
      'Let a cordoned node take placements again (idempotent; refused for a lost node or one whose certificates are all revoked)',
    scope: 'admin',
    params: nodeParams,
    response: nodeSchema,
    status: 200,
  }),
  drainPlan: route({
    method: 'get',
    path: '/nodes/:node/drain-plan',
    summary:
      'What draining the node would do with each of its instances: where each moves, which sleep first, which wait (changes nothing)',
    scope: 'admin',
    params: nodeParams,
    response: z.array(drainActionSchema),
    status: 200,
  }),
  drainNode: route({
    method: 'post',
    path: '/nodes/:node/drain',
    summary:
      'Drain a node: cordon it and move every movable instance per its drain plan (running and warm ones sleep first and wake on the target); pinned ones wait',
    scope: 'admin',
    params: nodeParams,
    response: drainResultSchema,
    status: 200,
  }),
  moveInstance: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/instances/:instance/move',
    summary:
      'Move a sleeping or stopped instance to another node with its identity and data (409 when it may not move; poll getMove)',
    scope: 'admin',
    params: instanceParams,
    body: moveInstanceSchema,
    response: instanceMoveSchema,
    status: 201,
  }),
  getMove: route({
    method: 'get',
    path: '/moves/:move',
    summary: 'A move: its step, its parts and what the target holds of them',
    scope: 'admin',
    params: moveParams,
    response: instanceMoveSchema,
    status: 200,
  }),
  nodeMoves: route({
    method: 'get',
    path: '/nodes/:node/moves',
    summary: 'The moves under way the node takes part in, as source or as target',
    scope: 'node',
    params: nodeParams,
    response: z.array(instanceMoveSchema),
    status: 200,
  }),
  reportMove: route({
    method: 'post',
    path: '/nodes/:node/moves/:move/events',
    summary:
      "A node's part in a move: the source starts and exports it, the target reports what it received and imported",
    scope: 'node',
    params: nodeMoveParams,
    body: moveReportSchema,
    response: instanceMoveSchema,
    status: 200,
  }),
  putMovePart: route({
    method: 'put',
    path: '/nodes/:node/moves/:move/parts/:part',
    summary:
      "The move's source uploads a part of its bundle from ?offset= (the bytes the coordinator holds); a whole part must match its sha256",
    scope: 'node',
    params: nodeMovePartParams,
    query: movePartQuerySchema,
    response: movePartHeldSchema,
    status: 200,
    stream: { kind: 'upload', maxBytes: MAX_UPLOAD_BYTES },
  }),
  getMovePart: route({
    method: 'get',
    path: '/nodes/:node/moves/:move/parts/:part',
    summary:
      "The move's target fetches a part the coordinator holds whole, as bytes (Range: bytes=N- resumes)",
    scope: 'node',
    params: nodeMovePartParams,
    response: z.instanceof(Response),
    status: 200,
    stream: { kind: 'download' },
  }),
  getSigningKey: route({
    method: 'get',
    path: '/signing-key',
    summary: 'The public key that signs desired-state documents',
    scope: 'public',
    response: signingKeySchema,
    status: 200,
  }),
  runScheduler: route({
    method: 'post',
    path: '/scheduler/run',
    summary: 'Place every unplaced instance on a node now',
    scope: 'admin',
    response: scheduleResultSchema,
    status: 200,
  }),

  listEvents: route({
    method: 'get',
    path: '/events',
    summary: 'Audit events, newest first',
    scope: 'tenant-list',
    query: eventsQuerySchema,
    response: z.array(auditEventSchema),
    page: pageSchema(auditEventSchema),
    status: 200,
  }),
  metrics: route({
    method: 'get',
    path: '/metrics',
    summary:
      "Prometheus metrics (docs/metrics.md): the admin token reads the fleet, the API and the scheduler; a tenant's token, or ?tenant=, only that tenant's instances and pools",
    scope: 'tenant-list',
    query: metricsQuerySchema,
    response: z.instanceof(Response),
    status: 200,
    text: 'text/plain; version=0.0.4',
  }),
  followEvents: route({
    method: 'get',
    path: '/events/follow',
    summary:
      'Audit events as they are written, oldest first, as server-sent events (id: the event id, to resume with Last-Event-ID or ?after=; data: the event as JSON)',
    scope: 'tenant-list',
    query: followEventsQuerySchema,
    response: z.instanceof(Response),
    status: 200,
    text: 'text/event-stream',
  }),

  watchInstances: route({
    method: 'get',
    path: '/instances/watch',
    summary:
      "Instances as they change, as server-sent events: each of the list as 'instance' {type: added, instance}, then 'synced', then each change (added, modified, deleted); a reconnect starts with the whole list again",
    scope: 'tenant-list',
    query: instanceWatchQuerySchema,
    response: z.instanceof(Response),
    status: 200,
    text: 'text/event-stream',
  }),

  listAllTokens: route({
    method: 'get',
    path: '/tokens',
    summary: 'List every API token, admin and tenant (never the secrets)',
    scope: 'admin',
    query: tokenListQuerySchema,
    response: z.array(tokenSchema),
    page: pageSchema(tokenSchema),
    status: 200,
  }),
  revokeToken: route({
    method: 'post',
    path: '/tokens/:token/revoke',
    summary: 'Revoke any API token by id; it stops working at once',
    scope: 'admin',
    params: tokenParams,
    response: tokenSchema,
    status: 200,
  }),
  revokeTenantToken: route({
    method: 'post',
    path: '/tenants/:tenant/tokens/:token/revoke',
    summary: "Revoke one of a tenant's tokens by id; it stops working at once",
    scope: 'tenant',
    params: tenantParams.extend({ token: idSchema }),
    response: tokenSchema,
    status: 200,
  }),
  rotateAdminToken: route({
    method: 'post',
    path: '/admin-token/rotate',
    summary:
      "Issue a new admin token (shown once, and written to the coordinator's admin.token) and revoke every other",
    scope: 'admin',
    response: rotatedAdminTokenSchema,
    status: 201,
  }),

  getNodeReport: route({
    method: 'get',
    path: '/nodes/:node/report',
    summary:
      "A node's latest report from its agent: its disk by tenant and image cache, and what each of its instances runs as and uses",
    scope: 'admin',
    params: nodeParams,
    response: nodeReportViewSchema,
    status: 200,
  }),
  getInstanceStats: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/instances/:instance/stats',
    summary:
      'An instance and what its node last reported of it: VMM pid, tap, CPU, memory and disk',
    scope: 'tenant',
    params: instanceParams,
    response: instanceStatsSchema,
    status: 200,
  }),
  createSessionTicket: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/instances/:instance/tickets',
    summary:
      "A single-use ticket, valid 30 s, to open the instance's exec or logs WebSocket with ?ticket= instead of an Authorization header (a browser cannot send one); bound to this instance, that session kind and the caller's scope",
    scope: 'tenant',
    params: instanceParams,
    body: createSessionTicketSchema,
    response: sessionTicketSchema,
    status: 201,
  }),
  listSecrets: route({
    method: 'get',
    path: '/tenants/:tenant/secrets',
    summary:
      "A tenant's secrets, both scopes (?pool= narrows to one pool's): names, versions and times, never values",
    scope: 'tenant',
    params: tenantParams,
    query: secretListQuerySchema,
    response: z.array(secretSchema),
    page: pageSchema(secretSchema),
    status: 200,
  }),
  setSecrets: route({
    method: 'post',
    path: '/tenants/:tenant/secrets',
    summary:
      'Set secrets of the tenant (or of `pool`): new names start at version 1, set names go one up; running instances get them at their next start or wake',
    scope: 'tenant',
    params: tenantParams,
    body: setSecretsSchema,
    response: secretChangeSchema,
    status: 200,
  }),
  rotateSecrets: route({
    method: 'post',
    path: '/tenants/:tenant/secrets/rotate',
    summary:
      'Replace secrets that are already set at that scope with new, different values (one version up); a name not set is refused',
    scope: 'tenant',
    params: tenantParams,
    body: setSecretsSchema,
    response: secretChangeSchema,
    status: 200,
  }),
  unsetSecrets: route({
    method: 'post',
    path: '/tenants/:tenant/secrets/unset',
    summary: 'Remove secrets of the tenant (or of `pool`)',
    scope: 'tenant',
    params: tenantParams,
    body: unsetSecretsSchema,
    response: unsetResultSchema,
    status: 200,
  }),
  nodeSecrets: route({
    method: 'get',
    path: '/nodes/:node/secrets/:tenant/:pool',
    summary:
      "The secret values of a pool the node runs instances of (the pool's own over the tenant's), for its secrets drive; any other pool answers 404",
    scope: 'node',
    params: nodeSecretsParams,
    response: nodeSecretsSchema,
    status: 200,
  }),
  getPoolConfig: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/config',
    summary: "A pool's config files (/etc/mvm-config in its guests) and their version",
    scope: 'tenant',
    params: poolParams,
    response: poolConfigSchema,
    status: 200,
  }),
  setPoolConfig: route({
    method: 'put',
    path: '/tenants/:tenant/pools/:pool/config',
    summary:
      "Add or replace a pool's config files (a new version); instances get it at their next start or wake",
    scope: 'tenant',
    params: poolParams,
    body: setPoolConfigSchema,
    response: poolConfigSchema,
    status: 200,
  }),
  unsetPoolConfig: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/config/unset',
    summary: "Remove files from a pool's config (a new version)",
    scope: 'tenant',
    params: poolParams,
    body: unsetPoolConfigSchema,
    response: poolConfigSchema,
    status: 200,
  }),
  nodeTunnel: route({
    method: 'get',
    path: '/nodes/:node/tunnel',
    summary:
      "The agent's own connection for sessions into its instances (WebSocket): the coordinator opens exec, pty and file sessions over it, so a node needs no inbound port",
    scope: 'node',
    params: nodeParams,
    response: serverMessageSchema,
    status: 101,
    websocket: {
      binary:
        'tunnel frames: [type u8][stream u32 BE][payload]; type 1 control (JSON), 2 stdin, 3 stdout, 4 stderr, 5 credit (u32 BE); see docs/exec.md',
      client: serverMessageSchema,
      server: tunnelRequestSchema,
    },
  }),
  workerExec: route({
    method: 'get',
    path: '/nodes/:node/gateways/:tenant/:pool/:instance/worker-exec',
    summary:
      "A command from a gateway instance this node runs, in a worker of the gateway's own tenant (WebSocket, an exec session): by worker key (one worker per key, docs/openclaw.md) or by target POOL/INSTANCE of that tenant; a warm or sleeping worker is woken first",
    scope: 'node',
    params: nodeParams.extend({ tenant: idSchema, pool: idSchema, instance: idSchema }),
    query: workerExecQuerySchema,
    response: serverMessageSchema,
    status: 101,
    websocket: {
      binary:
        '[channel u8][bytes]: 0 stdin (client), 1 stdout, 2 stderr (server); see docs/exec.md',
      client: clientMessageSchema,
      server: serverMessageSchema,
    },
  }),
  execInstance: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/instances/:instance/exec',
    summary:
      'A session in the instance (WebSocket): a command, a terminal or a file copy, relayed to its node; a warm or sleeping instance is woken first. A browser passes ?ticket= (createSessionTicket, session exec) instead of a token',
    scope: 'tenant',
    params: instanceParams,
    query: sessionSocketQuerySchema,
    response: serverMessageSchema,
    status: 101,
    websocket: {
      binary:
        '[channel u8][bytes]: 0 stdin (client), 1 stdout, 2 stderr (server); see docs/exec.md',
      client: clientMessageSchema,
      server: serverMessageSchema,
      ticket: 'exec',
    },
  }),

  submitJob: route({
    method: 'post',
    path: '/tenants/:tenant/jobs',
    summary:
      "Submit a job: a WebAssembly module (base64, checked against ABI v1 and stored by sha256) to run with `input` on a worker of `pool`; a repeated `key` answers the tenant's first job with it (created: false). This route alone admits a body up to the largest module's base64",
    scope: 'tenant',
    params: tenantParams,
    body: submitJobSchema,
    response: submittedJobSchema,
    status: 201,
    maxBodyBytes: SUBMIT_BODY_BYTES,
  }),
  listJobs: route({
    method: 'get',
    path: '/tenants/:tenant/jobs',
    summary: "A tenant's jobs, newest first (?pool=, ?state=, ?limit=)",
    scope: 'tenant',
    params: tenantParams,
    query: jobListQuerySchema,
    response: z.array(jobSchema),
    page: pageSchema(jobSchema),
    status: 200,
  }),
  getJob: route({
    method: 'get',
    path: '/tenants/:tenant/jobs/:job',
    summary: 'A job: state, attempts, lease holder, result or last error',
    scope: 'tenant',
    params: jobParams,
    response: jobSchema,
    status: 200,
  }),
  jobLogs: route({
    method: 'get',
    path: '/tenants/:tenant/jobs/:job/logs',
    summary:
      "A job's history: attempts, failed and lost attempts apart, the last error, and what was done to it",
    scope: 'tenant',
    params: jobParams,
    response: jobLogSchema,
    status: 200,
  }),
  cancelJob: route({
    method: 'post',
    path: '/tenants/:tenant/jobs/:job/cancel',
    summary:
      'Cancel a queued or running job; a running worker loses its lease and is refused from then on',
    scope: 'tenant',
    params: jobParams,
    response: jobSchema,
    status: 200,
  }),
  retryJob: route({
    method: 'post',
    path: '/tenants/:tenant/jobs/:job/retry',
    summary: "Submit a finished job's module and input again as a new job naming it (retryOf)",
    scope: 'tenant',
    params: jobParams,
    response: submittedJobSchema,
    status: 201,
  }),
  claimJobs: route({
    method: 'post',
    path: '/nodes/:node/jobs/claim',
    summary:
      "A worker's claim: up to `limit` due jobs of the pool, leased with a fencing token; waits up to waitMs for a submit when none is due. `completed` first succeeds the worker's finished jobs in the same round trip, each fenced by its own token (answered in `succeeded` / `lost`); limit 0 only completes",
    scope: 'node',
    params: nodeParams,
    body: claimJobsSchema,
    response: claimedJobsSchema,
    status: 200,
  }),
  heartbeatJob: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/heartbeat',
    summary: "Extend a held job's lease; 409 lease_lost when it is no longer held: stop the job",
    scope: 'node',
    params: nodeJobParams,
    body: jobHeartbeatSchema,
    response: leasedJobSchema,
    status: 200,
  }),
  completeJob: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/complete',
    summary:
      'Finish a held job: succeeded with a result, or failed (retried after a backoff when retryable and attempts are left); 409 lease_lost when no longer held',
    scope: 'node',
    params: nodeJobParams,
    body: completeJobSchema,
    response: jobSchema,
    status: 200,
  }),
  jobModule: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/module',
    summary: "A held job's module (base64), for the executor to run",
    scope: 'node',
    params: nodeJobParams,
    body: leaseTokenSchema,
    response: jobModuleSchema,
    status: 200,
  }),
  jobJournal: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/journal',
    summary: "A held job's effect journal in seq order: replay answers completed calls from it",
    scope: 'node',
    params: nodeJobParams,
    body: leaseTokenSchema,
    response: journalSchema,
    status: 200,
  }),
  recordEffect: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/effects',
    summary:
      'Record the next call of a held job before performing it (or keep the same unfinished call); 409 when it is not next or another call is recorded there',
    scope: 'node',
    params: nodeJobParams,
    body: recordEffectSchema,
    response: effectEntrySchema,
    status: 200,
  }),
  markEffectSent: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/effects/:seq/sent',
    summary: 'Mark an external write as possibly sent, just before sending it',
    scope: 'node',
    params: effectParams,
    body: leaseTokenSchema,
    response: effectEntrySchema,
    status: 200,
  }),
  completeEffect: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/effects/:seq/complete',
    summary:
      "Complete a call with its response; kv_get and kv_set are performed on the tenant's KV in the same transaction",
    scope: 'node',
    params: effectParams,
    body: completeEffectSchema,
    response: effectEntrySchema,
    status: 200,
  }),
  parkJob: route({
    method: 'post',
    path: '/nodes/:node/jobs/:job/park',
    summary: 'A sleeping job: give its lease back and queue it again at runAt (not an attempt)',
    scope: 'node',
    params: nodeJobParams,
    body: parkJobSchema,
    response: jobSchema,
    status: 200,
  }),
  instanceLogs: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/instances/:instance/logs',
    summary:
      "The instance's serial console (WebSocket): a 'logs' session (tail, follow) relayed from its node, which keeps the console; the instance is not woken. A browser passes ?ticket= (createSessionTicket, session logs) instead of a token",
    scope: 'tenant',
    params: instanceParams,
    query: sessionSocketQuerySchema,
    response: serverMessageSchema,
    status: 101,
    websocket: {
      binary: '[channel u8][bytes]: 1 stdout (server): the console bytes; see docs/exec.md',
      client: clientMessageSchema,
      server: serverMessageSchema,
      ticket: 'logs',
    },
  }),

  uploadSource: route({
    method: 'put',
    path: '/tenants/:tenant/uploads/:digest',
    summary:
      "Upload a packed image source (an OCI archive, a flake tarball) for 'mvm pool build'; the body's sha256 must be :digest",
    scope: 'tenant',
    params: uploadParams,
    response: uploadResultSchema,
    status: 201,
    stream: { kind: 'upload', maxBytes: MAX_UPLOAD_BYTES },
  }),
  startBuild: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/builds',
    summary:
      "Build the pool's source into a revision (in the background, one build of a pool at a time); poll getBuild for its progress",
    scope: 'tenant',
    params: poolParams,
    body: startBuildSchema,
    response: buildProgressSchema,
    status: 201,
  }),
  getBuild: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/builds/:build',
    summary: 'A build: its status, its log from ?logFrom= on, and the revision it recorded',
    scope: 'tenant',
    params: buildParams,
    query: buildQuerySchema,
    response: buildProgressSchema,
    status: 200,
  }),
  listRevisions: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/revisions',
    summary: "A pool's revisions, newest first",
    scope: 'tenant',
    params: poolParams,
    query: pageQuerySchema,
    response: z.array(revisionSchema),
    page: pageSchema(revisionSchema),
    status: 200,
  }),
  startRollout: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/rollout',
    summary:
      "Replace the pool's instances with a revision it built: canaries first, then batches of at most maxUnavailable; a failed canary rolls back by itself (409 while one runs)",
    scope: 'tenant',
    params: poolParams,
    body: startRolloutSchema,
    response: rolloutSchema,
    status: 201,
  }),
  rollbackPool: route({
    method: 'post',
    path: '/tenants/:tenant/pools/:pool/rollback',
    summary:
      'Turn the running rollout back, or return the pool to the revision before its last rollout',
    scope: 'tenant',
    params: poolParams,
    response: rolloutSchema,
    status: 200,
  }),
  getRevisionLog: route({
    method: 'get',
    path: '/tenants/:tenant/pools/:pool/revisions/:revision/log',
    summary: 'The build log of a revision (its last MiB)',
    scope: 'tenant',
    params: revisionParams,
    response: revisionLogSchema,
    status: 200,
  }),
  nodeRevision: route({
    method: 'get',
    path: '/nodes/:node/revisions/:revision',
    summary:
      "A revision's manifest, for a node running its pool (its sha256 is the revision id); any other answers 404",
    scope: 'node',
    params: nodeRevisionParams,
    response: revisionManifestSchema,
    status: 200,
  }),
  nodeArtifact: route({
    method: 'get',
    path: '/nodes/:node/artifacts/:digest',
    summary:
      "An artifact of a revision of a pool the node runs, as bytes (Range: bytes=N- resumes; x-mvm-sha256 names the whole file's sha256); any other answers 404",
    scope: 'node',
    params: nodeArtifactParams,
    response: z.instanceof(Response),
    status: 200,
    stream: { kind: 'download' },
  }),
} as const;

export type Routes = typeof routes;
export type RouteName = keyof Routes;
/** Routes answered with JSON (everything but the WebSocket upgrades). */
export type JsonRouteName = {
  [K in RouteName]: Routes[K] extends { websocket: WebSocketDef } ? never : K;
}[RouteName];
export type WebSocketRouteName = Exclude<RouteName, JsonRouteName>;

/** Fills `:name` placeholders; values are ids already validated by the caller's schemas. */
export function fillPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(/:([a-z]+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter '${name}' for ${path}`);
    return encodeURIComponent(value);
  });
}
