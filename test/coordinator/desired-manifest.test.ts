import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { DesiredFileStore } from '../../src/agent/desired/desired-file-store.ts';
import type { DesiredRefusedError } from '../../src/agent/desired/verify-desired.ts';
import { verifyEnvelope } from '../../src/agent/desired/verify-desired.ts';
import type { DesiredManifest } from '../../src/contract/desired.ts';
import { manifestPayload } from '../../src/core/desired-manifest.ts';
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
 * The document signed as a manifest of its tenants' digests (contract/desired.ts,
 * desiredManifestSchema): an agent watching a coordinator takes manifests, with only the texts
 * it does not hold; what it accepts is the payload the coordinator signed, byte for byte; a
 * manifest tampered with is refused and the document asked for whole; agents that do not ask
 * get envelopes signed over the whole payload; the kept manifest verifies after a restart.
 */

/**
 * Tampers with a manifest answer that leaves texts out (once): changes it in place, or returns
 * another answer to send instead. `seen` holds the answers sent before.
 */
type Tamper = (answer: DesiredManifest, seen: Exchange[]) => unknown;

const trust = (w: CoordinatorWorld) => [w.services.desired.signingKey().publicKeyPem];

/** The document a full fetch gives, verified. */
async function fullDocument(w: CoordinatorWorld) {
  const options = { trustedKeys: trust(w), production: true, nodeId: 'node-1', lastGeneration: 0 };
  return verifyEnvelope(await fullFetch(w), options).document;
}

/**
 * An agent's watch on `w` (manifests with every digest unless told: a manifest's changes are
 * desired-manifest-changes.test.ts's), every exchange recorded, tampered once.
 */
function agent(
  w: CoordinatorWorld,
  options: { manifests?: boolean; tamper?: Tamper; lastGeneration?: number } = {},
) {
  const { manifests, tamper, lastGeneration } = options;
  return watchingAgent(w, {
    manifestChanges: false,
    ...(manifests !== undefined ? { manifests } : {}),
    ...(lastGeneration !== undefined ? { lastGeneration } : {}),
    ...(tamper
      ? {
          tamper: {
            when: (answer) => 'manifest' in answer && answer.base !== undefined,
            apply: (answer, seen) => tamper(answer as DesiredManifest, seen),
          },
        }
      : {}),
  });
}

/** Each answer's kind: a whole manifest, one that leaves texts out, a payload, a delta. */
const kinds = (exchanges: Exchange[]) =>
  exchanges
    .filter((e) => !('unchanged' in e.answer))
    .map((e) => {
      if ('manifest' in e.answer) return e.answer.base === undefined ? 'manifest' : 'held';
      return 'delta' in e.answer ? 'delta' : 'full';
    });

/** The payload a kept manifest stands for. */
const payloadOf = (envelope: unknown) => {
  const m = envelope as { manifest: { head: string }; tenants: string[] };
  return manifestPayload(m.manifest.head, m.tenants);
};

const textIndex = (answer: DesiredManifest) => answer.tenants.findIndex((t) => t !== null);

/** The tamper cases: each must be refused, and the document then asked for whole. */
const tampers: Array<[string, Tamper, string]> = [
  [
    'a changed text',
    (answer) => {
      const i = textIndex(answer);
      answer.tenants[i] = (answer.tenants[i] as string).replace('"warm"', '"running"');
    },
    'bad_signature',
  ],
  [
    'a changed text with its digest in the manifest changed to match',
    (answer) => {
      const i = textIndex(answer);
      const text = (answer.tenants[i] as string).replace('"warm"', '"running"');
      answer.tenants[i] = text;
      answer.manifest.digests[i] = sha256(text);
    },
    'bad_signature',
  ],
  [
    'a text moved to another tenant',
    (answer) => {
      const i = textIndex(answer);
      // To the tenant before it, whose text the agent holds: its digest is checked first.
      const j = (i + answer.tenants.length - 1) % answer.tenants.length;
      [answer.tenants[i], answer.tenants[j]] = [answer.tenants[j] ?? null, answer.tenants[i]!];
    },
    'bad_signature',
  ],
  [
    'a text moved to another tenant with the digests swapped too',
    (answer) => {
      const { digests } = answer.manifest;
      answer.tenants.reverse();
      digests.reverse();
    },
    'bad_signature',
  ],
  [
    'a dropped tenant (its text and digest)',
    (answer) => {
      const i = textIndex(answer);
      answer.tenants.splice(i, 1);
      answer.manifest.digests.splice(i, 1);
    },
    'bad_signature',
  ],
  [
    'a dropped text (its digest kept)',
    // The last: the texts before it still match their digests.
    (answer) => void answer.tenants.pop(),
    'malformed',
  ],
  [
    'a duplicated tenant',
    (answer) => {
      answer.tenants.push(null);
      answer.manifest.digests.push(answer.manifest.digests[0]!);
    },
    'bad_signature',
  ],
  [
    'a changed head',
    (answer) => {
      answer.manifest.head = answer.manifest.head.replace('"nodeId":"node-1"', '"nodeId":"node-2"');
    },
    'bad_signature',
  ],
  [
    'a text left out that the agent does not hold',
    (answer) => void (answer.tenants[textIndex(answer)] = null),
    'delta',
  ],
  [
    'the first generation replayed',
    (_answer, seen) => seen.find((e) => 'manifest' in e.answer)?.answer,
    'replay',
  ],
];

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

await describeEachDatabase('desired-state manifests on the watch', (db) => {
  // Registered after the harness's: run before it closes the store.
  afterEach(async () => {
    await stopAgents();
  });

  it('sends an agent a manifest with the changed text only; it accepts the payload the coordinator signed', async () => {
    const w = await desiredWorld(db.store());
    const a = agent(w);
    await until(() => a.generation() > 0);
    const first = a.generation();
    expect(a.exchanges[0]?.url).toContain('manifest=1');
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > first);
    expect(kinds(a.exchanges)).toEqual(['manifest', 'held']);
    const held = a.exchanges[1]?.answer as DesiredManifest;
    expect(held.base).toBe(first);
    // acme and gamma left out (held), beta's new text sent.
    expect(held.tenants.map((t) => typeof t)).toEqual(['object', 'string', 'object']);
    // What the agent hands on (and keeps) stands for the payload a full fetch gives, byte for
    // byte (the clock is fixed, so the issuing time is the same), and is its document.
    const last = a.documents.at(-1);
    expect(payloadOf(last?.envelope)).toBe((await fullFetch(w)).payload);
    expect(last?.verified.document).toEqual(await fullDocument(w));
    expect(
      last?.verified.document.tenants[1]?.pools[0]?.instances.map((i) => i.desiredStatus),
    ).toEqual(['running', 'warm']);
    expect(a.errors).toEqual([]);

    // Manifests go on from the one made whole.
    await scaleWeb(w, 'acme', { running: 0, warm: 2 });
    await until(() => a.generation() > first + 1);
    expect(kinds(a.exchanges)).toEqual(['manifest', 'held', 'held']);
    expect(payloadOf(a.documents.at(-1)?.envelope)).toBe((await fullFetch(w)).payload);
  });

  for (const [name, tamper, reason] of tampers) {
    it(`refuses a manifest with ${name} and recovers with the whole document`, async () => {
      const w = await desiredWorld(db.store());
      const a = agent(w, { tamper });
      await until(() => a.generation() > 0);
      const first = a.generation();
      await scaleWeb(w, 'beta', { running: 1, warm: 1 });
      await until(() => a.generation() > first);
      expect(a.errors).toHaveLength(1);
      const error = a.errors[0];
      if (reason === 'delta') expect(String(error)).toContain('asking for the whole document');
      else expect((error as DesiredRefusedError).reason).toBe(reason);
      // The tampered answer, then the same generation asked for whole, signed over its payload.
      expect(kinds(a.exchanges).slice(-1)).toEqual(['full']);
      expect(a.exchanges.at(-1)?.url).not.toContain('manifest=');
      // Never half a document: the callback saw the first and the whole second only.
      expect(a.documents).toHaveLength(2);
      expect(a.documents[1]?.envelope).toEqual(await fullFetch(w));
      // Manifests resume, leaving out what the whole document gave.
      await scaleWeb(w, 'gamma', { running: 1, warm: 1 });
      await until(() => a.generation() > first + 1);
      expect(kinds(a.exchanges).at(-1)).toBe('held');
      expect(payloadOf(a.documents.at(-1)?.envelope)).toBe((await fullFetch(w)).payload);
      expect(a.errors).toHaveLength(1);
    });
  }

  it('sends an agent that does not ask for manifests envelopes signed over the payload', async () => {
    const w = await desiredWorld(db.store());
    const a = agent(w, { manifests: false });
    await until(() => a.generation() > 0);
    const first = a.generation();
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > first);
    expect(kinds(a.exchanges)).toEqual(['full', 'delta']);
    expect(a.exchanges.every((e) => !e.url.includes('manifest='))).toBe(true);
  });

  it('asks a restarted agent for its first document signed whole, then manifests, without an error', async () => {
    const w = await desiredWorld(db.store());
    // What the agent got before its restart, as a manifest.
    const before = (await w.services.desired.watch('node-1', 0, 0, {
      manifest: true,
    })) as DesiredManifest;
    const held = Number(before.manifest.head.match(/"generation":(\d+)/)?.[1]);
    // Restarted with its document on disk: nothing held by digest, though the coordinator sent
    // this node's watcher the generation it holds.
    const a = agent(w, { lastGeneration: held });
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > held);
    await scaleWeb(w, 'gamma', { running: 1, warm: 1 });
    await until(() => a.generation() > held + 1);
    expect(kinds(a.exchanges)).toEqual(['full', 'manifest']);
    expect(a.errors).toEqual([]);
    expect(payloadOf(a.documents.at(-1)?.envelope)).toBe((await fullFetch(w)).payload);
  });

  it('answers every text when the replica did not send the generation asked against', async () => {
    const store = db.store();
    const w = await desiredWorld(store);
    const other = await otherReplica(store);
    const first = await w.services.desired.watch('node-1', 0, 0, { manifest: true });
    expect('manifest' in first && first.base === undefined).toBe(true);
    const generation = (first as DesiredManifest).manifest.head.match(/"generation":(\d+)/)?.[1];
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    const after = Number(generation);
    const here = await w.services.desired.watch('node-1', after, 0, { manifest: true });
    expect((here as DesiredManifest).base).toBe(after);
    const there = await other.services.desired.watch('node-1', after, 0, { manifest: true });
    expect((there as DesiredManifest).base).toBeUndefined();
    expect((there as DesiredManifest).tenants.every((t) => typeof t === 'string')).toBe(true);
    // A watch without the flag gets the payload-signed envelope.
    expect('payload' in (await w.services.desired.watch('node-1', after, 0))).toBe(true);
  });

  it('keeps the manifest on disk, which verifies after a restart and not once edited', async () => {
    const w = await desiredWorld(db.store());
    const a = agent(w);
    await until(() => a.generation() > 0);
    const first = a.generation();
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > first);
    const dir = await mkdtemp(join(tmpdir(), 'mvm-manifest-'));
    try {
      const path = join(dir, 'desired.json');
      const file = new DesiredFileStore(path);
      const kept = a.documents.at(-1);
      await file.save(kept?.envelope as Parameters<DesiredFileStore['save']>[0]);
      const options = { trustedKeys: trust(w), production: true, nodeId: 'node-1' };
      const loaded = await file.loadVerified(options);
      expect(loaded?.document).toEqual(kept?.verified.document);
      // A tenant's text edited on disk is refused.
      const text = await readFile(path, 'utf8');
      await writeFile(path, text.replace('\\"warm\\"', '\\"running\\"'));
      expect(await readFile(path, 'utf8')).not.toBe(text);
      await expect(file.loadVerified(options)).rejects.toThrow(/does not match its digest/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
