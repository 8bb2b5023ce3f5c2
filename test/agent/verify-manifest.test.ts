import { describe, expect, it } from 'vitest';
import { ManifestTenants, verifyManifest } from '../../src/agent/desired/verify-manifest.ts';
import type { DesiredRefusedError } from '../../src/agent/desired/verify-desired.ts';
import {
  areDigests,
  desiredManifestSchema,
  desiredWatchResponseSchema,
} from '../../src/contract/desired.ts';
import { canonicalJson } from '../../src/core/desired-doc.ts';
import { manifestText, sha256Hex } from '../../src/core/desired-manifest.ts';
import { key, manifestHead, tenant, verifyOptions as options } from './manifest-fixture.ts';

/**
 * A manifest's digests are checked as one text (contract/desired.ts, areDigests), not by zod
 * string by string: every digest 64 lower-case hex digits, wherever a wrong character sits,
 * by the API client's response check and by verifyManifest itself, even when the signature
 * covers the wrong digest.
 */

const texts = [tenant('acme', 1), tenant('beta', 2)].map((t) => canonicalJson(t));
const head = manifestHead(3);

/** A manifest of `digests`, signed over them whatever they are. */
function signed(digests: string[], tenants: Array<string | null> = texts) {
  const signature = key.sign(manifestText(head, digests));
  return { manifest: { head, digests }, tenants, signature, keyId: key.keyId };
}

const good = texts.map(sha256Hex);
/** `digest` with the character at `at` replaced by `c`. */
const at = (digest: string, i: number, c: string) =>
  `${digest.slice(0, i)}${c}${digest.slice(i + 1)}`;

describe("a manifest's digests", () => {
  it('are each 64 lower-case hex digits, checked wherever a wrong character sits', () => {
    const d = good[0] as string;
    expect(areDigests(good)).toBe(true);
    expect(areDigests([])).toBe(true);
    for (const i of [0, 1, 31, 32, 62, 63]) {
      expect(areDigests([d, at(d, i, 'g')])).toBe(false);
      expect(areDigests([at(d, i, 'A'), d])).toBe(false);
      expect(areDigests([d, at(d, i, '\n')])).toBe(false);
      expect(areDigests([d, at(d, i, 'é')])).toBe(false);
    }
    expect(areDigests([d.slice(1), d])).toBe(false);
    expect(areDigests([`${d}0`])).toBe(false);
    expect(areDigests([''])).toBe(false);
    // Two digests as one line each way: never the same text as the two.
    expect(areDigests([`${d}\n${d}`])).toBe(false);
    expect(areDigests([`${d}${d}`])).toBe(false);
  });

  it("are refused by the schema and by the client's response check", () => {
    const upper = signed([good[0] as string, (good[1] as string).toUpperCase()]);
    expect(desiredManifestSchema.safeParse(signed(good)).success).toBe(true);
    expect(desiredManifestSchema.safeParse(upper).success).toBe(false);
    expect(desiredWatchResponseSchema.safeParse(upper).success).toBe(false);
    const notString = { ...signed(good), manifest: { head, digests: [good[0], 7] } };
    expect(desiredManifestSchema.safeParse(notString).success).toBe(false);
    // The items: a text or null, nothing else.
    expect(desiredManifestSchema.safeParse(signed(good, [null, texts[1]!])).success).toBe(true);
    expect(desiredManifestSchema.safeParse(signed(good, [texts[0]!, 1 as never])).success).toBe(
      false,
    );
    expect(desiredManifestSchema.safeParse(signed(good, ['x', null])).success).toBe(false);
  });

  it('are refused by verifyManifest as malformed though the signature covers them', () => {
    const verified = verifyManifest(signed(good), options);
    expect(verified.envelope.tenants).toEqual(texts);
    // An upper-case digest signed as such: the schema refuses it before the signature.
    const upper = signed([good[0] as string, (good[1] as string).toUpperCase()]);
    expect(() => verifyManifest(upper, options)).toThrow(
      expect.objectContaining({ reason: 'malformed' }) as DesiredRefusedError,
    );
    // A digest held under its lower-case form is not found under another.
    const held = new ManifestTenants();
    held.keep(good, texts, verified.verified.document.tenants);
    const withNulls = signed([good[0] as string, (good[1] as string).toUpperCase()], [null, null]);
    expect(() => verifyManifest(withNulls, options, held)).toThrow(/malformed|64 lower-case/);
  });

  it('finds a held tenant at its place or, moved, by its digest', () => {
    const held = new ManifestTenants();
    const first = verifyManifest(signed(good), options);
    held.keep(good, texts, first.verified.document.tenants);
    // The two swapped: neither is where it was held.
    const swapped = verifyManifest(signed([...good].reverse(), [null, null]), options, held);
    expect(held.last).toEqual({ held: 2, hashed: 0, parsed: 0 });
    expect(swapped.envelope.tenants).toEqual([...texts].reverse());
    // A new tenant between them: the first at its place, the second moved, the new one hashed.
    held.keep(good, texts, first.verified.document.tenants);
    const gamma = canonicalJson(tenant('gamma', 3));
    const digests = [good[0] as string, sha256Hex(gamma), good[1] as string];
    const grown = verifyManifest(signed(digests, [null, gamma, null]), options, held);
    expect(held.last).toEqual({ held: 2, hashed: 1, parsed: 1 });
    expect(grown.verified.document.tenants.map((t) => t.id)).toEqual(['acme', 'gamma', 'beta']);
  });
});
