import { createHash } from 'node:crypto';

/** A tenant text's digest as a manifest lists it (the coordinator's and the agent's alike). */
export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The text a document's manifest signature covers (contract/desired.ts,
 * desiredManifestSchema): a tag, the payload's head on one line, then each tenant's digest
 * (sha256 of its text, 64 hex digits) on its own line, in the document's order. The tag sets
 * it apart from a signed payload (which starts with `{`); the head has no newline (canonical
 * JSON escapes it; the schema refuses one) and the digests have a fixed form, so one text
 * stands for one head and one list. ~33 KiB for 500 tenants, not the 237 KiB payload.
 */
export const MANIFEST_TAG = 'mvm-desired-manifest/1';

export function manifestText(head: string, digests: readonly string[]): string {
  return `${MANIFEST_TAG}\n${head}\n${digests.join('\n')}`;
}

/** The payload a manifest and its tenants' texts stand for: the bytes a payload signature covers. */
export function manifestPayload(head: string, texts: readonly string[]): string {
  return `${head}${texts.join(',')}]}`;
}

/**
 * One change of a manifest's digests against the base an agent holds: from place `at` of the
 * base, `drop` digests go and the next manifest's `count` digests from its place `from` come
 * in their stead.
 */
export interface DigestEdit {
  at: number;
  drop: number;
  from: number;
  count: number;
}

/**
 * The edits that make `base` into `next`, in order, with at least one digest kept between two
 * of them. Walked once: a digest of `next` found at the base's place (mostly the same string:
 * the kept tenant entry's) or later is kept there, any other comes in; a map of the base's
 * places is built only at the first digest not at its place. A toggle of one tenant is one
 * edit of one digest; a document's tenants keep their order, so a tenant added or removed is
 * one edit each.
 */
export function digestEdits(base: readonly string[], next: readonly string[]): DigestEdit[] {
  const edits: DigestEdit[] = [];
  let places: Map<string, number> | undefined;
  let i = 0;
  let from = 0;
  next.forEach((digest, j) => {
    let k: number | undefined = i;
    if (base[i] !== digest) {
      places ??= new Map(base.map((d, n) => [d, n]));
      k = places.get(digest);
      if (k === undefined || k < i) return;
    }
    if (k > i || j > from) edits.push({ at: i, drop: k - i, from, count: j - from });
    i = k + 1;
    from = j + 1;
  });
  if (i < base.length || from < next.length) {
    edits.push({ at: i, drop: base.length - i, from, count: next.length - from });
  }
  return edits;
}
