import { expect, it } from 'vitest';
import type { DesiredRefusedError } from '../../src/agent/desired/verify-desired.ts';
import type { DesiredManifest, DesiredManifestChanges } from '../../src/contract/desired.ts';
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
import { afterEach } from 'vitest';

/**
 * The manifest sent as its changes against the one the agent holds (contract/desired.ts,
 * desiredManifestChangesSchema), on the coordinator's real watch: an agent holding a manifest
 * gets only the changed tenants' texts, rebuilds the manifest, verifies the one signature and
 * accepts the payload a full fetch gives; changes tampered with are refused and the document
 * asked for whole; a replica that did not send the base answers the whole manifest.
 */

type Tamper = (answer: DesiredManifestChanges) => void;

function agent(w: CoordinatorWorld, tamper?: Tamper) {
  return watchingAgent(w, {
    ...(tamper
      ? {
          tamper: {
            when: (answer) => 'changes' in answer,
            apply: (answer) => tamper(answer as DesiredManifestChanges),
          },
        }
      : {}),
  });
}

/** Each answer's kind: a manifest, a manifest's changes, a payload-signed envelope. */
const kinds = (exchanges: Exchange[]) =>
  exchanges
    .filter((e) => !('unchanged' in e.answer))
    .map((e) => ('manifest' in e.answer ? 'manifest' : 'changes' in e.answer ? 'changes' : 'full'));

/** The payload a kept manifest stands for. */
const payloadOf = (envelope: unknown) => {
  const m = envelope as { manifest: { head: string }; tenants: string[] };
  return manifestPayload(m.manifest.head, m.tenants);
};

const edit = (answer: DesiredManifestChanges) => answer.changes.edits[0]!;

const tampers: Array<[string, Tamper, string]> = [
  [
    'a changed text',
    (a) => void (edit(a).tenants[0] = edit(a).tenants[0]!.replace('"warm"', '"running"')),
    'bad_signature',
  ],
  ['a changed tenant dropped', (a) => void (edit(a).tenants = []), 'bad_signature'],
  ['a held tenant dropped too', (a) => void (edit(a).drop += 1), 'bad_signature'],
  ['the edit moved to another tenant', (a) => void (edit(a).at -= 1), 'bad_signature'],
  ['the edit out of range', (a) => void (edit(a).at = 3), 'malformed'],
  [
    'the same place edited twice',
    (a) => void a.changes.edits.push({ ...edit(a), tenants: [] }),
    'malformed',
  ],
];

await describeEachDatabase("a desired-state manifest's changes on the watch", (db) => {
  afterEach(async () => {
    await stopAgents();
  });

  it('sends an agent holding a manifest only the changed text; it accepts the payload the coordinator signed', async () => {
    const w = await desiredWorld(db.store());
    const a = agent(w);
    await until(() => a.generation() > 0);
    const first = a.generation();
    expect(a.exchanges[0]?.url).not.toContain('changes=');
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    await until(() => a.generation() > first);
    expect(kinds(a.exchanges)).toEqual(['manifest', 'changes']);
    expect(a.exchanges[1]?.url).toContain('changes=1');
    const whole = a.exchanges[0]?.answer as DesiredManifest;
    const changes = a.exchanges[1]?.answer as DesiredManifestChanges;
    expect(changes.changes.base).toBe(first);
    // beta's new text, no digest: one of the document's three tenants.
    expect(changes.changes.edits).toEqual([{ at: 1, drop: 1, tenants: [expect.any(String)] }]);
    expect(JSON.stringify(changes)).not.toContain(whole.manifest.digests[0]);
    const last = a.documents.at(-1);
    expect(payloadOf(last?.envelope)).toBe((await fullFetch(w)).payload);
    expect((last?.envelope as DesiredManifest).manifest.digests).toHaveLength(3);
    expect(a.errors).toEqual([]);

    // A tenant added: one edit that drops nothing.
    await w.app.request('/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'delta', netId: 20, subnet: '10.240.20.0/24' }),
    });
    await w.app.request('/v1/tenants/delta/pools', {
      method: 'POST',
      headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 }),
    });
    const before = a.generation();
    await scaleWeb(w, 'delta', { running: 1 });
    await until(() => a.documents.at(-1)?.verified.document.tenants.length === 4);
    expect(a.generation()).toBeGreaterThan(before);
    const added = a.exchanges.at(-1)?.answer as DesiredManifestChanges;
    expect(added.changes.edits).toEqual([{ at: 2, drop: 0, tenants: [expect.any(String)] }]);
    expect(payloadOf(a.documents.at(-1)?.envelope)).toBe((await fullFetch(w)).payload);
    expect(kinds(a.exchanges).every((k, i) => i === 0 || k === 'changes')).toBe(true);
    expect(a.errors).toEqual([]);
  });

  for (const [name, tamper, reason] of tampers) {
    it(`refuses changes with ${name} and recovers with the whole document`, async () => {
      const w = await desiredWorld(db.store());
      const a = agent(w, tamper);
      await until(() => a.generation() > 0);
      const first = a.generation();
      await scaleWeb(w, 'beta', { running: 1, warm: 1 });
      await until(() => a.generation() > first);
      expect(a.errors).toHaveLength(1);
      expect((a.errors[0] as DesiredRefusedError).reason).toBe(reason);
      expect(kinds(a.exchanges)).toEqual(['manifest', 'changes', 'full']);
      expect(a.documents).toHaveLength(2);
      expect(a.documents[1]?.envelope).toEqual(await fullFetch(w));
      // Changes resume against the whole document.
      await scaleWeb(w, 'gamma', { running: 1, warm: 1 });
      await until(() => a.generation() > first + 1);
      expect(kinds(a.exchanges).at(-1)).toBe('changes');
      expect(payloadOf(a.documents.at(-1)?.envelope)).toBe((await fullFetch(w)).payload);
      expect(a.errors).toHaveLength(1);
    });
  }

  it('answers the whole manifest when the replica did not send the generation asked against', async () => {
    const store = db.store();
    const w = await desiredWorld(store);
    const other = await otherReplica(store);
    const asking = { manifest: true, changes: true };
    const first = (await w.services.desired.watch('node-1', 0, 0, asking)) as DesiredManifest;
    expect(first.manifest.digests).toHaveLength(3);
    const after = Number(first.manifest.head.match(/"generation":(\d+)/)?.[1]);
    await scaleWeb(w, 'beta', { running: 1, warm: 1 });
    const here = await w.services.desired.watch('node-1', after, 0, asking);
    expect('changes' in here && here.changes.base).toBe(after);
    const there = await other.services.desired.watch('node-1', after, 0, asking);
    expect('manifest' in there && there.base).toBeUndefined();
    expect((there as DesiredManifest).tenants.every((t) => typeof t === 'string')).toBe(true);
    // Without `changes`, the manifest with the held texts left out, as before.
    const older = await w.services.desired.watch('node-1', after, 0, { manifest: true });
    expect('manifest' in older).toBe(true);
  });
});
