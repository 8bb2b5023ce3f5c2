import fc from 'fast-check';
import type { Api, ApiResponse } from './api-client-harness.ts';
import { POOL, type Json, type Outcome } from './concurrency-harness.ts';

/**
 * What many concurrent clients of one coordinator may ask for, as fast-check values, and the
 * answers each request may get on its own merits whatever runs beside it. Tenants and pools
 * come from small sets, so requests keep meeting each other's objects (and their absence).
 */
export const TENANTS = ['ta', 'tb', 'tc', 'td'] as const;
export const POOLS = ['pa', 'pb', 'pc'] as const;
const ACTIONS = ['start', 'stop', 'warm', 'sleep', 'wake', 'destroy'] as const;
const OBSERVED = ['running', 'warm', 'sleeping', 'stopped', 'destroyed'] as const;
/** The one node the harness registers; every placed instance is on it. */
export const NODE = 'node-1';

type TenantName = (typeof TENANTS)[number];
type PoolName = (typeof POOLS)[number];

export type Command =
  | { kind: 'scale'; tenant: TenantName; pool: PoolName; counts: Record<string, number> }
  | { kind: 'act'; tenant: TenantName; pool: PoolName; pick: number; action: string }
  | { kind: 'report'; tenant: TenantName; pool: PoolName; pick: number; status: string }
  | { kind: 'createPool'; tenant: TenantName; pool: PoolName; vcpus: number; memMib: number }
  | { kind: 'destroyPool'; tenant: TenantName; pool: PoolName; force: boolean }
  | { kind: 'quotas'; tenant: TenantName; quotas: Record<string, number> }
  | { kind: 'createTenant'; tenant: TenantName }
  | { kind: 'destroyTenant'; tenant: TenantName }
  | { kind: 'getTenant'; tenant: TenantName };

/** Mostly the two seeded tenants with their pools: most requests meet live objects. */
const tenant = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<TenantName>('ta', 'tb') },
  { weight: 1, arbitrary: fc.constantFrom<TenantName>('tc', 'td') },
);
const pool = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<PoolName>('pa', 'pb') },
  { weight: 1, arbitrary: fc.constant<PoolName>('pc') },
);

/**
 * Near what the requests ask for: each scale alone mostly fits, two or three together
 * mostly do not, so only serialised checks keep a tenant within them.
 */
export const quotasArb = fc.record({
  maxRunning: fc.integer({ min: 1, max: 5 }),
  maxWarm: fc.integer({ min: 1, max: 3 }),
  maxPools: fc.integer({ min: 2, max: 3 }),
  maxVcpus: fc.integer({ min: 3, max: 10 }),
  maxMemMib: fc.integer({ min: 1024, max: 4096 }),
  maxInstancesPerPool: fc.integer({ min: 3, max: 8 }),
});

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('scale' as const),
      tenant,
      pool,
      counts: fc.record(
        {
          running: fc.integer({ min: 0, max: 3 }),
          warm: fc.integer({ min: 0, max: 2 }),
          sleeping: fc.integer({ min: 0, max: 2 }),
        },
        { requiredKeys: [] },
      ),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('act' as const),
      tenant,
      pool,
      pick: fc.nat(20),
      action: fc.constantFrom(...ACTIONS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('report' as const),
      tenant,
      pool,
      pick: fc.nat(20),
      status: fc.constantFrom(...OBSERVED),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('createPool' as const),
      tenant,
      pool,
      vcpus: fc.integer({ min: 1, max: 2 }),
      memMib: fc.constantFrom(256, 512),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('destroyPool' as const),
      tenant,
      pool,
      force: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('quotas' as const),
      tenant,
      quotas: quotasArb.map((q) => q as Record<string, number>),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('createTenant' as const), tenant }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('destroyTenant' as const), tenant }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('getTenant' as const), tenant }) },
);

/** A burst: each command with the delay (ms) after which its client sends it. */
export const burstArb = fc.array(fc.tuple(commandArb, fc.nat(4)), {
  minLength: 20,
  maxLength: 40,
});

/** Sends `command`, with tenant ids given this run's `prefix` so runs never meet. */
export async function send(api: Api, prefix: string, command: Command): Promise<Outcome> {
  const t = `${prefix}-${command.tenant}`;
  const response = await request(api, t, command);
  const label = labelOf(command);
  if (response === undefined) return { label, status: 0, code: undefined, message: undefined };
  const error = (response.body as { error?: { code?: string; message?: string } } | undefined)
    ?.error;
  return {
    label,
    status: response.status,
    code: error?.code,
    message: error?.message,
  };
}

function request(api: Api, t: string, c: Command): Promise<ApiResponse | undefined> {
  const poolPath = (p: string) => `/tenants/${t}/pools/${p}`;
  switch (c.kind) {
    case 'scale':
      return api.call('POST', `${poolPath(c.pool)}/scale`, { body: c.counts });
    case 'act':
    case 'report':
      return onInstance(api, t, c);
    case 'createPool':
      return api.call('POST', `/tenants/${t}/pools`, {
        body: { ...POOL, id: c.pool, vcpus: c.vcpus, memMib: c.memMib },
      });
    case 'destroyPool':
      return api.call('DELETE', `${poolPath(c.pool)}${c.force ? '?force=true' : ''}`);
    case 'quotas':
      return api.call('PATCH', `/tenants/${t}`, { body: { quotas: c.quotas } });
    case 'createTenant':
      return api.call('POST', '/tenants', { body: { id: t } });
    case 'destroyTenant':
      return api.call('DELETE', `/tenants/${t}?force=true`);
    case 'getTenant':
      return api.call('GET', `/tenants/${t}`);
  }
}

/**
 * An operator's action, or the node's report, on whichever instance `pick` lands on (only
 * placed ones report); none there is no request at all.
 */
async function onInstance(
  api: Api,
  t: string,
  c: Extract<Command, { kind: 'act' | 'report' }>,
): Promise<ApiResponse | undefined> {
  const listed = await api.call('GET', `/instances?tenant=${t}&pool=${c.pool}`);
  if (listed.status !== 200) return listed;
  const instances = (listed.body as Json[]).filter((i) => c.kind === 'act' || i.nodeId === NODE);
  const target = instances[c.pick % Math.max(1, instances.length)];
  if (target === undefined) return undefined;
  const key = `${t}/${c.pool}/${String(target.id)}`;
  if (c.kind === 'report') {
    return api.call('PUT', `/nodes/${NODE}/instances/${key}/status`, {
      body: { status: c.status },
    });
  }
  const path = `/tenants/${t}/pools/${c.pool}/instances/${String(target.id)}/actions`;
  return api.call('POST', path, { body: { action: c.action } });
}

function labelOf(c: Command): string {
  const { kind, tenant: t, ...rest } = c;
  return `${kind} ${t} ${JSON.stringify(rest)}`;
}

const gone = (o: Outcome) => o.status === 404 && o.code === 'not_found';
const quota = (o: Outcome) => o.status === 422 && o.code === 'quota_exceeded';
const exists = (o: Outcome) => o.status === 409 && /already exists/.test(o.message ?? '');

/**
 * The answers a request may get on its own merits: what it asked for, or a refusal that holds
 * whatever ran beside it (over quota, missing, already there, an action its instance's state
 * does not allow, a pool still holding instances without --force). Never a 5xx, and never a
 * conflict that only says another request was in flight.
 */
export function onItsMerits(command: Command, o: Outcome): boolean {
  if (o.status === 0) return true;
  if (o.status >= 500) return false;
  switch (command.kind) {
    case 'scale':
      return o.status === 200 || gone(o) || quota(o);
    case 'act':
      return o.status === 200 || gone(o) || quota(o) || o.code === 'illegal_transition';
    case 'report':
      return o.status === 200 || gone(o) || o.code === 'illegal_transition';
    case 'createPool':
      return o.status === 201 || gone(o) || quota(o) || exists(o);
    case 'destroyPool': {
      const held = !command.force && o.status === 409 && /still has/.test(o.message ?? '');
      return o.status === 200 || gone(o) || held;
    }
    case 'quotas':
      return o.status === 200 || gone(o) || quota(o);
    case 'createTenant':
      return o.status === 201 || exists(o);
    case 'destroyTenant':
    case 'getTenant':
      return o.status === 200 || gone(o);
  }
}
