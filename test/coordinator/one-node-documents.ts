/**
 * The small world of the pacing and single-flight tests: one node holding acme's pool `web` of
 * `running` instances, and each instance's desired status as a document says it and as the
 * store holds it.
 */
import type { DesiredWatchResponse, NodeDesired } from '../../src/contract/desired.ts';
import type { Store } from '../../src/ports/store.ts';
import { ok, type Api } from './api-client-harness.ts';

export async function onePoolOnOneNode(api: Api, running: number): Promise<void> {
  const capacity = { vcpus: 64, memMib: 262144, diskGib: 100 };
  await ok(api, 'PUT', '/nodes/n1', { hostname: 'n1', arch: 'x86_64', capacity });
  await ok(api, 'POST', '/tenants', { id: 'acme' });
  const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
  await ok(api, 'POST', '/tenants/acme/pools', pool);
  await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running });
}

/** The document a watch answered (unverified: these tests read it, they do not trust it). */
export function document(answer: DesiredWatchResponse): NodeDesired {
  if (!('payload' in answer)) throw new Error(`no document: ${JSON.stringify(answer)}`);
  return JSON.parse(answer.payload) as NodeDesired;
}

/** Each instance's desired status in a document, by id. */
export function statuses(doc: NodeDesired): Record<string, string> {
  const pairs = doc.tenants.flatMap((t) =>
    t.pools.flatMap((p) => p.instances.map((i) => [i.id, i.desiredStatus] as const)),
  );
  return Object.fromEntries(pairs);
}

/** Each of acme/web's instances' desired status in the store, by id. */
export async function storedStatuses(store: Store): Promise<Record<string, string>> {
  const rows = await store.instances.list({ tenantId: 'acme', poolId: 'web' });
  return Object.fromEntries(rows.map((i) => [i.id, i.desiredStatus]));
}
