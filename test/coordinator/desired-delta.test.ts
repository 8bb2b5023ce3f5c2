import { afterEach, expect, it } from 'vitest';
import { verifyEnvelope } from '../../src/agent/desired/verify-desired.ts';
import type { CoordinatorWorld } from '../support/coordinator-world.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  desiredWorld,
  fullFetch,
  otherReplica,
  scaleWeb,
  stopAgents,
  until,
  watchingAgent,
  type Exchange,
} from './support/desired-watch-world.ts';

/**
 * The watch's answer as a delta against the generation the agent holds (contract/desired.ts,
 * desiredDeltaSchema): an agent watching a coordinator takes deltas, made whole and verified as
 * full envelopes; a delta it cannot use makes it ask for the document whole; agents that do
 * not ask for deltas, and replicas that do not hold the base, get full envelopes.
 */

/** Tampers with a delta answer before the agent reads it (once), or leaves it. */
type Tamper = (answer: { delta: { base: number; tenants: Array<string | number> } }) => void;

/** An agent's watch on `w` (deltas unless told), every exchange recorded, tampered by `tamper`. */
function agent(w: CoordinatorWorld, options: { deltas?: boolean; tamper?: Tamper } = {}) {
  const { deltas, tamper } = options;
  return watchingAgent(w, {
    ...(deltas !== undefined ? { deltas } : {}),
    // Deltas of payload-signed envelopes; manifests are desired-manifest.test.ts's.
    manifests: false,
    ...(tamper
      ? {
          tamper: {
            when: (answer) => 'delta' in answer,
            apply: (answer) => tamper(answer as Parameters<Tamper>[0]),
          },
        }
      : {}),
  });
}

const kinds = (exchanges: Exchange[]) =>
  exchanges
    .filter((e) => !('unchanged' in e.answer))
    .map((e) => ('delta' in e.answer ? 'delta' : 'full'));

await describeEachDatabase('desired-state deltas on the watch', (db) => {
  // Registered after the harness's: run before it closes the store.
  afterEach(async () => {
    await stopAgents();
  });

  it('sends an agent a delta after a toggle, which it makes whole: the document a full fetch gives', async () => {
    const w = await desiredWorld(db.store());
    const a = agent(w);
    await until(() => a.generation() > 0);
    const first = a.generation();
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
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
    await scaleWeb(w, 'acme', { running: 0, warm: 2 });
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
      const w = await desiredWorld(db.store());
      const a = agent(w, { tamper });
      await until(() => a.generation() > 0);
      const first = a.generation();
      await scaleWeb(w, 'beta', { running: 1, warm: 1 });
      await until(() => a.generation() > first);
      // The tampered delta, then the same generation asked for whole.
      expect(kinds(a.exchanges)).toEqual(['full', 'delta', 'full']);
      expect(a.exchanges[2]?.url).not.toContain('delta=1');
      expect(a.errors).toHaveLength(1);
      // Never half a document: the callback saw the first and the whole second only.
      expect(a.documents).toHaveLength(2);
      expect(a.documents[1]?.envelope).toEqual(await fullFetch(w));
      // And deltas resume after it.
      await scaleWeb(w, 'gamma', { running: 1, warm: 1 });
      await until(() => a.generation() > first + 1);
      expect(kinds(a.exchanges)).toEqual(['full', 'delta', 'full', 'delta']);
      expect(a.documents.at(-1)?.envelope).toEqual(await fullFetch(w));
    });
  }

  it('sends an agent that does not ask for deltas full envelopes', async () => {
    const w = await desiredWorld(db.store());
    const a = agent(w, { deltas: false });
    await until(() => a.generation() > 0);
    const first = a.generation();
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > first);
    expect(kinds(a.exchanges)).toEqual(['full', 'full']);
    expect(a.exchanges.every((e) => !e.url.includes('delta='))).toBe(true);
    expect(a.documents.at(-1)?.envelope).toEqual(await fullFetch(w));
  });

  it('answers whole when the replica does not hold the generation asked against', async () => {
    const store = db.store();
    const w = await desiredWorld(store);
    const other = await otherReplica(store);
    const trusted = w.services.desired.signingKey().publicKeyPem;
    const first = verifyEnvelope(await w.services.desired.watch('node-1', 0, 0, { delta: true }), {
      trustedKeys: [trusted],
      production: true,
      nodeId: 'node-1',
      lastGeneration: 0,
    }).document.generation;
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    // The replica that sent the first document answers a delta against it.
    const here = await w.services.desired.watch('node-1', first, 0, { delta: true });
    expect('delta' in here).toBe(true);
    // Another replica (its own caches; same store, same key) never sent it: whole.
    const there = await other.services.desired.watch('node-1', first, 0, { delta: true });
    expect('payload' in there).toBe(true);
    // Nor does the first replica answer a delta against a generation it no longer holds.
    await scaleWeb(w, 'beta', { running: 0, warm: 2 });
    const older = await w.services.desired.watch('node-1', first, 0, { delta: true });
    expect('payload' in older).toBe(true);
  });
});
