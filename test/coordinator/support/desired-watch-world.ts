import { expect } from 'vitest';
import type { VerifiedDocument } from '../../../src/agent/desired/verify-desired.ts';
import { watchDesired } from '../../../src/agent/desired/watch-desired.ts';
import type { SignedEnvelope } from '../../../src/contract/desired.ts';
import {
  createApiClient,
  type FetchLike,
} from '../../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../../src/ports/store.ts';
import { coordinatorWorld, type CoordinatorWorld } from '../../support/coordinator-world.ts';
import { fixedClock } from '../api-client-harness.ts';

/**
 * One node and three tenants of two running instances each, and the real agent's watch on
 * them with every exchange recorded: what the tests of the watch's answer forms (deltas,
 * manifests) share.
 */

const NODE = {
  hostname: 'kvm-1',
  arch: 'x86_64',
  capacity: { vcpus: 32, memMib: 65536, diskGib: 100 },
};
const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };

/** One exchange of the watch route as the agent saw it: what it asked, what came back. */
export interface Exchange {
  url: string;
  answer: Record<string, unknown>;
}

/** node-1, and tenants acme, beta and gamma with a pool `web` of two running instances each. */
export async function desiredWorld(store: Store): Promise<CoordinatorWorld> {
  const w = await coordinatorWorld(store, { clock: fixedClock });
  const call = async (method: string, path: string, body: unknown) => {
    const response = await w.app.request(`/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status, await response.clone().text()).toBeLessThan(300);
  };
  await call('PUT', '/nodes/node-1', NODE);
  for (const [n, tenant] of ['acme', 'beta', 'gamma'].entries()) {
    await call('POST', '/tenants', { id: tenant, netId: 7 + n, subnet: `10.240.${7 + n}.0/24` });
    await call('POST', `/tenants/${tenant}/pools`, pool);
    await call('POST', `/tenants/${tenant}/pools/web/scale`, { running: 2 });
  }
  return w;
}

/** Another replica on the same store (its own caches), closed with the agents. */
export async function otherReplica(store: Store): Promise<CoordinatorWorld> {
  const other = await coordinatorWorld(store, { clock: fixedClock });
  atStop(async () => other.services.desired.close());
  return other;
}

/** Scales the tenant's pool `web`. */
export async function scaleWeb(
  w: CoordinatorWorld,
  tenant: string,
  counts: Record<string, number>,
): Promise<void> {
  const response = await w.app.request(`/v1/tenants/${tenant}/pools/web/scale`, {
    method: 'POST',
    headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(counts),
  });
  expect(response.status).toBe(200);
}

/** The node's document fetched whole, as an old agent or `mvm node` does. */
export async function fullFetch(w: CoordinatorWorld): Promise<SignedEnvelope> {
  const answer = await w.client().call('watchNodeDesired', {
    params: { node: 'node-1' },
    query: { after: 0, waitMs: 0 },
  });
  if (!('payload' in answer)) throw new Error('not a full envelope');
  return answer;
}

export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Changes one answer the agent gets (the first `when` picks), in place or by returning another. */
export interface Tampering {
  when: (answer: Record<string, unknown>) => boolean;
  apply: (answer: Record<string, unknown>, seen: Exchange[]) => unknown;
}

export interface AgentOptions {
  deltas?: boolean;
  manifests?: boolean;
  manifestChanges?: boolean;
  lastGeneration?: number;
  tamper?: Tampering;
}

/** Stops every agent started since the last call: call it in an afterEach before the store closes. */
export async function stopAgents(): Promise<void> {
  for (const stop of stops.splice(0)) await stop();
}

const stops: Array<() => Promise<void>> = [];

/** Runs `stop` with the agents' stops (a second replica's close, say). */
export function atStop(stop: () => Promise<void>): void {
  stops.push(stop);
}

/** The real agent's watch of node-1 on `w`, every exchange recorded, one answer tampered with. */
export function watchingAgent(w: CoordinatorWorld, options: AgentOptions = {}) {
  const exchanges: Exchange[] = [];
  const documents: Array<{ verified: VerifiedDocument; envelope: unknown }> = [];
  const errors: unknown[] = [];
  let tamper = options.tamper;
  const fetch: FetchLike = async (request) => {
    const response = await w.fetch(request);
    if (!request.url.includes('/desired')) return response;
    let answer = (await response.json()) as Record<string, unknown>;
    if (tamper?.when(answer)) {
      answer = (tamper.apply(answer, exchanges) ?? answer) as Record<string, unknown>;
      tamper = undefined;
    }
    exchanges.push({ url: request.url, answer });
    return new Response(JSON.stringify(answer), {
      status: response.status,
      headers: response.headers,
    });
  };
  const stop = new AbortController();
  const { deltas, manifests, manifestChanges } = options;
  const watching = watchDesired({
    api: createApiClient({ baseUrl: w.baseUrl, token: w.admin, fetch }),
    nodeId: 'node-1',
    trustedKeys: [w.services.desired.signingKey().publicKeyPem],
    production: true,
    lastGeneration: options.lastGeneration ?? 0,
    waitMs: 2_000,
    backoff: { initialMs: 10, maxMs: 50 },
    clock: fixedClock,
    signal: stop.signal,
    ...(deltas !== undefined ? { deltas } : {}),
    ...(manifests !== undefined ? { manifests } : {}),
    ...(manifestChanges !== undefined ? { manifestChanges } : {}),
    onDocument: (verified, envelope) => void documents.push({ verified, envelope }),
    onError: (error) => void errors.push(error),
  });
  stops.push(async () => {
    stop.abort();
    w.services.desired.close();
    await watching;
  });
  const generation = () => documents.at(-1)?.verified.document.generation ?? 0;
  return { exchanges, documents, errors, generation };
}
