import { afterEach, expect, it } from 'vitest';
import { watchDesired } from '../../src/agent/desired/watch-desired.ts';
import { verifyEnvelope, type VerifiedDocument } from '../../src/agent/desired/verify-desired.ts';
import type { SignedEnvelope } from '../../src/contract/desired.ts';
import { createApiClient, type FetchLike } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Store } from '../../src/ports/store.ts';
import { coordinatorWorld, type CoordinatorWorld } from '../support/coordinator-world.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fixedClock } from './api-client-harness.ts';

/**
 * The watch's answer as a delta against the generation the agent holds (contract/desired.ts,
 * desiredDeltaSchema): an agent watching a coordinator takes deltas, made whole and verified as
 * full envelopes; a delta it cannot use makes it ask for the document whole; agents that do
 * not ask for deltas, and replicas that do not hold the base, get full envelopes.
 */

const NODE = {
  hostname: 'kvm-1',
  arch: 'x86_64',
  capacity: { vcpus: 32, memMib: 65536, diskGib: 100 },
};
const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };

/** One exchange of the watch route as the agent saw it: what it asked, what came back. */
interface Exchange {
  url: string;
  answer: Record<string, unknown>;
}

/** Tampers with a delta answer before the agent reads it (once), or leaves it. */
type Tamper = (answer: { delta: { base: number; tenants: Array<string | number> } }) => void;

async function world(store: Store): Promise<CoordinatorWorld> {
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

async function scale(w: CoordinatorWorld, tenant: string, counts: Record<string, number>) {
  const response = await w.app.request(`/v1/tenants/${tenant}/pools/web/scale`, {
    method: 'POST',
    headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(counts),
  });
  expect(response.status).toBe(200);
}

/** The node's document fetched whole, as an old agent or `mvm node` does. */
async function fullFetch(w: CoordinatorWorld): Promise<SignedEnvelope> {
  const answer = await w.client().call('watchNodeDesired', {
    params: { node: 'node-1' },
    query: { after: 0, waitMs: 0 },
  });
  if (!('payload' in answer)) throw new Error('not a full envelope');
  return answer;
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const stops: Array<() => Promise<void>> = [];

/** An agent's watch on `w` (deltas unless told), every exchange recorded, tampered by `tamper`. */
function agent(w: CoordinatorWorld, options: { deltas?: boolean; tamper?: Tamper } = {}) {
  const exchanges: Exchange[] = [];
  const documents: Array<{ verified: VerifiedDocument; envelope: SignedEnvelope }> = [];
  const errors: unknown[] = [];
  let tamper = options.tamper;
  const fetch: FetchLike = async (request) => {
    const response = await w.fetch(request);
    if (!request.url.includes('/desired')) return response;
    const answer = (await response.json()) as Record<string, unknown>;
    if ('delta' in answer && tamper) {
      tamper(answer as Parameters<Tamper>[0]);
      tamper = undefined;
    }
    exchanges.push({ url: request.url, answer });
    return new Response(JSON.stringify(answer), {
      status: response.status,
      headers: response.headers,
    });
  };
  const stop = new AbortController();
  const watching = watchDesired({
    api: createApiClient({ baseUrl: w.baseUrl, token: w.admin, fetch }),
    nodeId: 'node-1',
    trustedKeys: [w.services.desired.signingKey().publicKeyPem],
    production: true,
    lastGeneration: 0,
    waitMs: 2_000,
    backoff: { initialMs: 10, maxMs: 50 },
    clock: fixedClock,
    signal: stop.signal,
    ...(options.deltas !== undefined ? { deltas: options.deltas } : {}),
    // Deltas of payload-signed envelopes; manifests are desired-manifest.test.ts's.
    manifests: false,
    onDocument: (verified, envelope) =>
      void documents.push({ verified, envelope: envelope as SignedEnvelope }),
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

const kinds = (exchanges: Exchange[]) =>
  exchanges
    .filter((e) => !('unchanged' in e.answer))
    .map((e) => ('delta' in e.answer ? 'delta' : 'full'));

await describeEachDatabase('desired-state deltas on the watch', (db) => {
  // Registered after the harness's: run before it closes the store.
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  it('sends an agent a delta after a toggle, which it makes whole: the document a full fetch gives', async () => {
    const w = await world(db.store());
    const a = agent(w);
    await until(() => a.generation() > 0);
    const first = a.generation();
    await scale(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > first);
    expect(kinds(a.exchanges)).toEqual(['full', 'delta']);
    expect(a.exchanges[1]?.url).toContain('delta=1');
    const delta = a.exchanges.find((e) => 'delta' in e.answer)?.answer.delta as {
      base: number;
      tenants: Array<string | number>;
    };
    // acme and gamma by their index in the base, beta's new text whole.
    expect(delta.base).toBe(first);
    expect(delta.tenants.map((t) => typeof t)).toEqual(['number', 'string', 'number']);
    // The envelope handed on (and persisted) is the whole one, byte for byte a full fetch's
    // (the clock is fixed, so the issuing time is the same).
    const full = await fullFetch(w);
    const last = a.documents.at(-1);
    expect(last?.envelope).toEqual(full);
    expect(
      last?.verified.document.tenants[1]?.pools[0]?.instances.map((i) => i.desiredStatus),
    ).toEqual(['running', 'warm']);
    expect(a.errors).toEqual([]);

    // Deltas go on from the rebuilt document.
    await scale(w, 'acme', { running: 0, warm: 2 });
    await until(() => a.generation() > first + 1);
    expect(kinds(a.exchanges)).toEqual(['full', 'delta', 'delta']);
    expect(a.documents.at(-1)?.envelope).toEqual(await fullFetch(w));
  });

  for (const [name, tamper] of [
    [
      'a changed text',
      (answer) => {
        const i = answer.delta.tenants.findIndex((t) => typeof t === 'string');
        answer.delta.tenants[i] = (answer.delta.tenants[i] as string).replace(
          '"warm"',
          '"running"',
        );
      },
    ],
    ['a wrong base', (answer) => void (answer.delta.base += 1)],
    [
      'an index out of range',
      (answer) => {
        const i = answer.delta.tenants.findIndex((t) => typeof t === 'number');
        answer.delta.tenants[i] = 3;
      },
    ],
    [
      'indices swapped',
      (answer) => {
        answer.delta.tenants.reverse();
      },
    ],
  ] as Array<[string, Tamper]>) {
    it(`refuses a delta with ${name} and recovers with the whole document`, async () => {
      const w = await world(db.store());
      const a = agent(w, { tamper });
      await until(() => a.generation() > 0);
      const first = a.generation();
      await scale(w, 'beta', { running: 1, warm: 1 });
      await until(() => a.generation() > first);
      // The tampered delta, then the same generation asked for whole.
      expect(kinds(a.exchanges)).toEqual(['full', 'delta', 'full']);
      expect(a.exchanges[2]?.url).not.toContain('delta=1');
      expect(a.errors).toHaveLength(1);
      // Never half a document: the callback saw the first and the whole second only.
      expect(a.documents).toHaveLength(2);
      expect(a.documents[1]?.envelope).toEqual(await fullFetch(w));
      // And deltas resume after it.
      await scale(w, 'gamma', { running: 1, warm: 1 });
      await until(() => a.generation() > first + 1);
      expect(kinds(a.exchanges)).toEqual(['full', 'delta', 'full', 'delta']);
      expect(a.documents.at(-1)?.envelope).toEqual(await fullFetch(w));
    });
  }

  it('sends an agent that does not ask for deltas full envelopes', async () => {
    const w = await world(db.store());
    const a = agent(w, { deltas: false });
    await until(() => a.generation() > 0);
    const first = a.generation();
    await scale(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > first);
    expect(kinds(a.exchanges)).toEqual(['full', 'full']);
    expect(a.exchanges.every((e) => !e.url.includes('delta='))).toBe(true);
    expect(a.documents.at(-1)?.envelope).toEqual(await fullFetch(w));
  });

  it('answers whole when the replica does not hold the generation asked against', async () => {
    const store = db.store();
    const w = await world(store);
    const other = await coordinatorWorld(store, { clock: fixedClock });
    stops.push(async () => other.services.desired.close());
    const trusted = w.services.desired.signingKey().publicKeyPem;
    const first = verifyEnvelope(await w.services.desired.watch('node-1', 0, 0, { delta: true }), {
      trustedKeys: [trusted],
      production: true,
      nodeId: 'node-1',
      lastGeneration: 0,
    }).document.generation;
    await scale(w, 'beta', { running: 1, warm: 1 });
    // The replica that sent the first document answers a delta against it.
    const here = await w.services.desired.watch('node-1', first, 0, { delta: true });
    expect('delta' in here).toBe(true);
    // Another replica (its own caches; same store, same key) never sent it: whole.
    const there = await other.services.desired.watch('node-1', first, 0, { delta: true });
    expect('payload' in there).toBe(true);
    // Nor does the first replica answer a delta against a generation it no longer holds.
    await scale(w, 'beta', { running: 0, warm: 2 });
    const older = await w.services.desired.watch('node-1', first, 0, { delta: true });
    expect('payload' in older).toBe(true);
  });
});
