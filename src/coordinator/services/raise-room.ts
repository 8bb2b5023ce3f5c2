import { ConflictError } from '../../core/errors.ts';
import type { Instance, Pool } from '../../core/model.ts';
import { admitRaises, isRaise, type RaiseRequest, type RoomNode } from '../../core/raise-room.ts';
import type { MemberWrite, Repos, Store } from '../../ports/store.ts';
import { namedIn } from './apply-assignments.ts';
import type { ServiceDeps } from './context.ts';
import { SCHEDULER_LOCK } from './scheduler-lock.ts';

/**
 * A raise found the scheduler's lock taken while its transaction held a tenant's lock. It
 * does not wait there (a pass holds the scheduler's lock and waits for tenants' locks: the two
 * would deadlock); `raiseTransaction` runs the work again, taking the scheduler's lock first.
 */
export class SchedulerLockBusy extends ConflictError {
  constructor() {
    super('a scheduling pass holds the scheduler lock; run the raise again taking it first');
  }
}

/**
 * Runs `fn` in a transaction that may raise placed instances (`holdRaisesWithoutRoom`): first
 * without the scheduler's lock (most changes raise nothing), and if a raise found it taken,
 * once more taking it before anything else, in the order a scheduling pass takes its locks
 * (the scheduler's, then tenants').
 */
export async function raiseTransaction<T>(
  store: Pick<Store, 'transaction'>,
  fn: (repos: Repos) => Promise<T>,
): Promise<T> {
  try {
    return await store.transaction(fn);
  } catch (error) {
    if (!(error instanceof SchedulerLockBusy)) throw error;
  }
  return store.transaction(async (repos) => {
    await repos.locks.acquire(SCHEDULER_LOCK);
    return fn(repos);
  });
}

/** What a writer's transaction already holds, which a raise's room check then takes as is. */
export interface Known {
  /** Pools read under their tenants' locks (their sizes stand): not read again. */
  pools?: readonly Pool[];
  /**
   * The scheduler's lock, tried in the writer's own statement (`raisesPlaced` said it would be
   * needed): held, or not (`SchedulerLockBusy`, as a try here would).
   */
  locked?: boolean;
}

/**
 * Whether `writes` (a plan's member writes, PoolRepo.updateWithMembers) raise a placed
 * instance of `read`, so that its room is checked under the scheduler's lock: what the writer
 * tries that lock in its write for. An idle slot's write raises nothing.
 */
export function raisesPlaced(
  read: readonly Pick<Instance, 'id' | 'nodeId' | 'desiredStatus'>[],
  writes: readonly MemberWrite[],
): boolean {
  const byId = namedIn(read, writes);
  return writes.some((w) => {
    const instance = byId.get(w.id);
    if (instance === undefined || instance.nodeId === null || w.idleSlot !== undefined)
      return false;
    return isRaise(instance.desiredStatus, w.desiredStatus);
  });
}

/** One instance's desired status before a write and the instance as the write left it. */
export interface RaiseWrite {
  before: Pick<Instance, 'desiredStatus' | 'pressureSleptAt'>;
  after: Instance;
}

const keyOf = (i: Pick<Instance, 'tenantId' | 'poolId' | 'id'>) =>
  `${i.tenantId}/${i.poolId}/${i.id}`;

/**
 * Checks the raises among `writes` (a placed instance going from sleeping or stopped to
 * running or warm) against their nodes' room, under the scheduler's lock, inside the writer's
 * transaction after its writes (core/raise-room.ts). A raise without room is undone: the
 * instance keeps its earlier desired status, holds the place it was raised to (`idleSlot`,
 * so re-materializing wakes nothing in its place) and is marked held by the scheduler
 * (`pressureSleptAt`), which raises it once its node has room; each is an audit event,
 * `instance.raise-waiting`. Answers the held instances as written, by `tenant/pool/id`.
 * `known`: what the transaction holds already (`Known`), not read or tried again.
 */
export async function holdRaisesWithoutRoom(
  repos: Repos,
  deps: Pick<ServiceDeps, 'clock'>,
  writes: readonly RaiseWrite[],
  actor: string,
  known: Known = {},
): Promise<Map<string, Instance>> {
  const raises = writes.filter(
    (w) => w.after.nodeId !== null && isRaise(w.before.desiredStatus, w.after.desiredStatus),
  );
  const held = new Map<string, Instance>();
  if (raises.length === 0) return held;
  const locked = known.locked ?? (await repos.locks.tryAcquire(SCHEDULER_LOCK));
  if (!locked) throw new SchedulerLockBusy();
  const pools = await poolsOf(
    repos,
    raises.map((r) => r.after),
    known.pools ?? [],
  );
  const requests = raises.map((r) =>
    requestOf(r.after, pools.get(`${r.after.tenantId}/${r.after.poolId}`)),
  );
  const verdict = admitRaises(await roomNodes(repos, requests), requests);
  const byKey = new Map(raises.map((r) => [keyOf(r.after), r]));
  const at = deps.clock.now().toISOString();
  for (const { request, reason } of verdict.held) {
    const write = byKey.get(request.key);
    if (!write) continue;
    held.set(request.key, await hold(repos, write, request, { reason, at, actor }));
  }
  return held;
}

/**
 * Instances a write changed, once its raises are checked against their nodes' room
 * (`holdRaisesWithoutRoom`; `before`: the same instances as read before the write): a raise
 * without room stays where it was, waiting for room. `known`: as `holdRaisesWithoutRoom`'s.
 */
export async function roomChecked(
  repos: Repos,
  deps: Pick<ServiceDeps, 'clock'>,
  before: readonly (RaiseWrite['before'] & Pick<Instance, 'tenantId' | 'poolId' | 'id'>)[],
  changed: Instance[],
  actor: string,
  known: Known = {},
): Promise<Instance[]> {
  // Only the changed few are looked up: a pool's every member in a map was most of what a
  // scale allocated here (docs/scale.md, "What a toggle allocates").
  const ids = new Set(changed.map((i) => i.id));
  const earlier = new Map<string, (typeof before)[number]>();
  for (const i of before) if (ids.has(i.id)) earlier.set(keyOf(i), i);
  const writes = changed.flatMap((after) => {
    const was = earlier.get(keyOf(after));
    return was ? [{ before: was, after }] : [];
  });
  const held = await holdRaisesWithoutRoom(repos, deps, writes, actor, known);
  return changed.map((i) => held.get(keyOf(i)) ?? i);
}

async function hold(
  repos: Repos,
  { before, after }: RaiseWrite,
  request: RaiseRequest,
  how: { reason: string; at: string; actor: string },
): Promise<Instance> {
  const key = { tenantId: after.tenantId, poolId: after.poolId, instanceId: after.id };
  const slot = after.desiredStatus === 'running' ? 'running' : 'warm';
  const written = await repos.instances.update(
    key,
    {
      desiredStatus: before.desiredStatus,
      idleSlot: slot,
      // Held before and raised again: it keeps its place in the queue for room.
      pressureSleptAt: before.pressureSleptAt ?? how.at,
    },
    after.version,
    how.at,
  );
  await repos.audit.append({
    tenantId: after.tenantId,
    at: how.at,
    actor: how.actor,
    action: 'instance.raise-waiting',
    target: request.key,
    detail: { nodeId: request.nodeId, to: slot, stays: before.desiredStatus, reason: how.reason },
  });
  return written;
}

function requestOf(instance: Instance, pool: Pool | undefined): RaiseRequest {
  return {
    key: keyOf(instance),
    nodeId: instance.nodeId ?? '',
    vcpus: pool?.vcpus ?? 0,
    memMib: pool?.memMib ?? 0,
    to: instance.desiredStatus,
    critical: pool?.critical ?? false,
  };
}

/** The raised instances' pools: those `read` holds, the rest read (their tenants' pools). */
async function poolsOf(
  repos: Repos,
  instances: readonly Instance[],
  read: readonly Pool[],
): Promise<Map<string, Pool>> {
  const pools = new Map(read.map((p) => [`${p.tenantId}/${p.id}`, p]));
  const missing = instances.filter((i) => !pools.has(`${i.tenantId}/${i.poolId}`));
  const tenantIds = [...new Set(missing.map((i) => i.tenantId))];
  if (tenantIds.length === 0) return pools;
  for (const p of await repos.pools.list({ tenantIds })) pools.set(`${p.tenantId}/${p.id}`, p);
  return pools;
}

/**
 * The raised instances' nodes with what they hold (the raises included), read in the store
 * in one statement, after the scheduler's lock is taken (a read in the lock's own statement
 * could miss a pass that committed while it waited).
 */
async function roomNodes(repos: Repos, requests: readonly RaiseRequest[]): Promise<RoomNode[]> {
  const ids = [...new Set(requests.map((r) => r.nodeId))];
  return (await repos.nodes.withLoads(ids)).map(({ node, held }) => ({
    id: node.id,
    vcpus: node.capacity.vcpus,
    memMib: node.capacity.memMib,
    heldVcpus: held.vcpus,
    heldMemMib: held.memMib,
    memReport: node.usage,
  }));
}
