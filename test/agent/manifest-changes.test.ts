import { describe, expect, it } from 'vitest';
import type { DesiredRefusedError } from '../../src/agent/desired/verify-desired.ts';
import {
  ManifestTenants,
  verifyManifest,
  verifyManifestChanges,
} from '../../src/agent/desired/verify-manifest.ts';
import {
  desiredWatchResponseSchema,
  type DesiredManifestChanges,
} from '../../src/contract/desired.ts';
import { manifestChanges } from '../../src/coordinator/desired/watch-delta.ts';
import { canonicalJson } from '../../src/core/desired-doc.ts';
import { digestEdits, manifestText, sha256Hex } from '../../src/core/desired-manifest.ts';
import { key, manifestHead as head, tenant, verifyOptions as options } from './manifest-fixture.ts';

/**
 * A manifest sent as its changes against the one the agent holds (contract/desired.ts,
 * desiredManifestChangesSchema): the coordinator's edits (core/desired-manifest.ts,
 * digestEdits) rebuild on the agent into the manifest the one signature covers; tenants added
 * and removed in one change; edits out of range, order or place are malformed, a text or an
 * edit altered fails the signature, changes against another generation are not used.
 */

/** The texts of tenants t0..t{n-1}, or of the ids given. */
const textsOf = (ids: string[]) => ids.map((id, n) => canonicalJson(tenant(id, n + 1)));

/** A manifest of `texts` at `generation`, signed whole, as the coordinator keeps it. */
function manifest(generation: number, texts: string[]) {
  const digests = texts.map(sha256Hex);
  const signature = key.sign(manifestText(head(generation), digests));
  const envelope = { manifest: { head: head(generation), digests }, tenants: texts, signature };
  return { envelope: { ...envelope, keyId: key.keyId } };
}

/** An agent holding `texts` at generation 3, verified from a whole manifest. */
function holding(texts: string[]) {
  const held = new ManifestTenants();
  const first = verifyManifest(manifest(3, texts).envelope, options);
  const digests = first.envelope.manifest.digests;
  held.keep(digests, first.envelope.tenants, first.verified.document.tenants, 3);
  return held;
}

/** The coordinator's changes from generation 3's `before` to generation 4's `after`. */
function changes(before: string[], after: string[]): DesiredManifestChanges {
  const answer = manifestChanges(
    { generation: 3, digests: before.map(sha256Hex) },
    manifest(4, after),
  );
  // What travels: through JSON and the client's response check.
  const parsed = desiredWatchResponseSchema.parse(JSON.parse(JSON.stringify(answer)));
  return parsed as DesiredManifestChanges;
}

const ids = ['a', 'b', 'c', 'd', 'e', 'f'];

describe("a manifest's changes", () => {
  it('name only the changed tenants and rebuild into the signed manifest', () => {
    const before = textsOf(ids);
    const after = [...before];
    after[2] = canonicalJson({ ...tenant('c', 3), egress: true });
    const answer = changes(before, after);
    expect(answer.changes.edits).toEqual([{ at: 2, drop: 1, tenants: [after[2]] }]);
    const held = holding(before);
    const { verified, envelope } = verifyManifestChanges(answer, options, held);
    expect(envelope.tenants).toEqual(after);
    expect(envelope.manifest.digests).toEqual(after.map(sha256Hex));
    expect(envelope.signature).toBe(manifest(4, after).envelope.signature);
    expect(verified.document.generation).toBe(4);
    expect(verified.document.tenants[2]?.egress).toBe(true);
    expect(held.last).toEqual({ held: 5, hashed: 1, parsed: 1 });
  });

  it('carry tenants added and removed in one change', () => {
    const before = textsOf(ids);
    const x = canonicalJson(tenant('x', 40));
    const y = canonicalJson(tenant('y', 41));
    // b removed, x added after c, e and f removed, y added at the end.
    const after = [before[0]!, before[2]!, x, before[3]!, y];
    const answer = changes(before, after);
    expect(answer.changes.edits).toEqual([
      { at: 1, drop: 1, tenants: [] },
      { at: 3, drop: 0, tenants: [x] },
      { at: 4, drop: 2, tenants: [y] },
    ]);
    const { verified, envelope } = verifyManifestChanges(answer, options, holding(before));
    expect(envelope.tenants).toEqual(after);
    expect(verified.document.tenants.map((t) => t.id)).toEqual(['a', 'c', 'x', 'd', 'y']);
    // Every tenant removed, or every tenant new.
    expect(
      verifyManifestChanges(changes(before, []), options, holding(before)).envelope.tenants,
    ).toEqual([]);
    const fresh = textsOf(['p', 'q']);
    expect(changes(before, fresh).changes.edits).toEqual([{ at: 0, drop: 6, tenants: fresh }]);
    expect(
      verifyManifestChanges(changes(before, fresh), options, holding(before)).envelope.tenants,
    ).toEqual(fresh);
  });

  it('are the digests that make one list the other, whatever moved', () => {
    const apply = (base: string[], next: string[]) => {
      const out: string[] = [];
      let i = 0;
      for (const e of digestEdits(base, next)) {
        out.push(...base.slice(i, e.at), ...next.slice(e.from, e.from + e.count));
        i = e.at + e.drop;
      }
      return [...out, ...base.slice(i)];
    };
    const lists = [
      [],
      ['a'],
      ['a', 'b', 'c'],
      ['c', 'b', 'a'],
      ['b'],
      ['x', 'a', 'c', 'y'],
      ['a', 'a'],
    ];
    for (const base of lists) for (const next of lists) expect(apply(base, next)).toEqual(next);
    expect(digestEdits(['a', 'b'], ['a', 'b'])).toEqual([]);
  });

  const malformed: Array<[string, (a: DesiredManifestChanges) => void]> = [
    ['out of range', (a) => void (a.changes.edits[0]!.at = 6)],
    ['dropping past the end', (a) => void (a.changes.edits[0]!.drop = 5)],
    [
      'at the place of the one before',
      (a) => void a.changes.edits.push({ at: 2, drop: 0, tenants: [] }),
    ],
    ['before the one before', (a) => void a.changes.edits.push({ at: 1, drop: 1, tenants: [] })],
    ['empty', (a) => void a.changes.edits.push({ at: 4, drop: 0, tenants: [] })],
  ];
  for (const [name, tamper] of malformed) {
    it(`are malformed with an edit ${name}`, () => {
      const before = textsOf(ids);
      const after = [...before];
      after[2] = canonicalJson({ ...tenant('c', 3), egress: true });
      const answer = changes(before, after);
      tamper(answer);
      expect(() => verifyManifestChanges(answer, options, holding(before))).toThrow(
        expect.objectContaining({ reason: 'malformed' }) as DesiredRefusedError,
      );
    });
  }

  const forged: Array<[string, (a: DesiredManifestChanges, before: string[]) => void]> = [
    [
      'a changed text',
      (a) =>
        void (a.changes.edits[0]!.tenants[0] = a.changes.edits[0]!.tenants[0]!.replace(
          'true',
          'false',
        )),
    ],
    [
      'a text swapped for a held one',
      (a, before) => void (a.changes.edits[0]!.tenants[0] = before[1]!),
    ],
    ['an edit dropped', (a) => void a.changes.edits.splice(0, 1)],
    ['a tenant dropped', (a) => void (a.changes.edits[0]!.drop = 2)],
    ['an edit moved', (a) => void (a.changes.edits[0]!.at = 3)],
    ['another head', (a) => void (a.changes.head = a.changes.head.replace('node-1', 'node-2'))],
  ];
  for (const [name, tamper] of forged) {
    it(`fail the signature with ${name}`, () => {
      const before = textsOf(ids);
      const after = [...before];
      after[2] = canonicalJson({ ...tenant('c', 3), egress: true });
      const answer = changes(before, after);
      tamper(answer, before);
      expect(() => verifyManifestChanges(answer, options, holding(before))).toThrow(
        expect.objectContaining({ reason: 'bad_signature' }) as DesiredRefusedError,
      );
    });
  }

  it('are not used against another generation than the one held', () => {
    const before = textsOf(ids);
    const answer = changes(before, before.slice(1));
    const other = holding(before);
    other.keep(other.digests, before, [], 2);
    for (const held of [other, new ManifestTenants(), undefined]) {
      expect(() => verifyManifestChanges(answer, options, held)).toThrow(
        /asking for the whole document/,
      );
    }
  });
});
