/**
 * Replicas for the node-document tests: coordinators over one store, each with its own
 * notifier and caches (a coordinator world each), instance ids unique across them, one
 * secrets keyring between them, and calls that throw on a failed answer. Also the small fleet
 * those tests build: nodes with room, tenants t{n} with a pool web, a node's document.
 */
import type { Services } from '../../src/coordinator/services/index.ts';
import { staticKeyring } from '../../src/coordinator/secrets/keyring.ts';
import { newMasterKey } from '../../src/coordinator/secrets/secret-box.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld, type WorldOptions } from '../support/coordinator-world.ts';
import { ADMIN, apiOn, fixedClock, ok } from './api-client-harness.ts';

/** A request to a replica; an answer of 300 or more throws, naming the request. */
export type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;

export interface Replica {
  call: Call;
  services: Services;
}

// Shared by every replica of the file: ids unique across them, secrets readable by all.
let suffix = 0;
const keyring = staticKeyring([newMasterKey()], 'test');

/** One replica over `store` (fixed clock, the admin token ADMIN); `options` add to it. */
export async function replicaOver(store: Store, options: WorldOptions = {}): Promise<Replica> {
  const world = await coordinatorWorld(store, {
    clock: fixedClock,
    admin: ADMIN,
    randomSuffix: () => `r${(suffix += 1)}`,
    secretsKeyring: keyring,
    ...options,
  });
  const api = apiOn(world.app);
  return { call: (method, path, body) => ok(api, method, path, body), services: world.services };
}

export const roomyNode = { vcpus: 64, memMib: 262144, diskGib: 100 };
export const webPool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };

/** Node `id` registered with room for everything, at `underlayIp`. */
export async function node(call: Call, id: string, underlayIp: string): Promise<void> {
  await call('PUT', `/nodes/${id}`, {
    hostname: id,
    arch: 'x86_64',
    capacity: roomyNode,
    underlayIp,
  });
}

/** Tenant t{n} (net 10+n) with pool web of `running` instances, spread over the nodes. */
export async function tenant(call: Call, n: number, running: number): Promise<void> {
  await call('POST', '/tenants', { id: `t${n}`, netId: 10 + n, subnet: `10.240.${10 + n}.0/24` });
  await call('POST', `/tenants/t${n}/pools`, webPool);
  await call('POST', `/tenants/t${n}/pools/web/scale`, { running });
}

export interface ListedInstance {
  tenantId: string;
  poolId: string;
  id: string;
  nodeId: string | null;
  desiredStatus: string;
}

/** Tenant `t`'s instances as the API lists them (a page or a bare list). */
export async function instancesOf(call: Call, t: string): Promise<ListedInstance[]> {
  const answer = (await call('GET', `/instances?tenant=${t}`)) as
    ListedInstance[] | { items: ListedInstance[] };
  return Array.isArray(answer) ? answer : answer.items;
}

/** The node's document as this replica computes it now. */
export async function documentOn(call: Call, nodeId: string): Promise<unknown> {
  return JSON.parse(
    ((await call('GET', `/nodes/${nodeId}/desired`)) as { payload: string }).payload,
  );
}
