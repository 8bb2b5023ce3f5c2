import type {
  DesiredDelta,
  DesiredManifest,
  DesiredManifestChanges,
  ManifestEnvelope,
  SignedEnvelope,
} from '../../contract/desired.ts';
import { digestEdits } from '../../core/desired-manifest.ts';

/**
 * A signed document's payload cut as the agent rebuilds it (agent/desired/delta-payload.ts):
 * `head` (up to and with `"tenants":[`), its tenants' texts joined by commas, then `]}`.
 */
export interface SignedTexts {
  envelope: SignedEnvelope;
  head: string;
  /** The tenants' canonical texts, in the document's order. */
  texts: readonly string[];
}

/** What a replica keeps of the document it last sent a node's delta-taking watcher. */
export interface HeldTexts {
  generation: number;
  /** The tenants' ids, in the order of `texts`. */
  ids: readonly string[];
  texts: readonly string[];
}

/**
 * The next document as a delta against `base` (the document the watcher holds): each tenant
 * whose text is the one it had in `base` is that text's index there, any other its text.
 * Undefined when no tenant's text is kept (the whole payload says it as well) or the payload is
 * unsigned (an agent verifies a delta as it verifies a full envelope, and only signed).
 */
export function deltaAgainst(
  base: HeldTexts,
  next: SignedTexts,
  ids: readonly string[],
): DesiredDelta | undefined {
  const { signature, keyId } = next.envelope;
  if (signature === undefined || keyId === undefined) return undefined;
  const at = new Map<string, number>();
  base.ids.forEach((id, i) => at.set(id, i));
  let kept = 0;
  const tenants = next.texts.map((text, i): string | number => {
    const j = at.get(ids[i] as string);
    // Mostly the same string (the tenant's kept entry, desired/tenant-entries.ts): compared by
    // reference before any character is.
    if (j !== undefined && base.texts[j] === text) {
      kept += 1;
      return j;
    }
    return text;
  });
  if (kept === 0 && tenants.length > 0) return undefined;
  return { delta: { base: base.generation, head: next.head, tenants }, signature, keyId };
}

/** A document signed as a manifest of its tenants' digests (core/desired-manifest.ts). */
export interface SignedManifest {
  /** Every tenant's text: the whole answer, also what the agent keeps. */
  envelope: ManifestEnvelope;
}

/** What a replica keeps of the manifest it last sent a node's manifest-taking watcher. */
export interface HeldDigests {
  generation: number;
  digests: readonly string[];
}

/**
 * The manifest for a watcher that holds `after`: against `base` when that is what it holds
 * (each tenant whose digest was in `base` is null, the agent holds its text), else with every
 * text.
 */
export function manifestAgainst(
  base: HeldDigests | undefined,
  after: number,
  next: SignedManifest,
): DesiredManifest {
  const whole = next.envelope;
  if (base?.generation !== after) return whole;
  const held = new Set(base.digests);
  const { digests } = whole.manifest;
  const tenants = whole.tenants.map((text, i) => (held.has(digests[i] as string) ? null : text));
  return { ...whole, base: base.generation, tenants };
}

/**
 * The manifest `next` as its changes against `base`, the manifest the watcher holds (the caller
 * checked that `base` is the generation it asked after): the digests that go and the texts
 * that come in their stead (contract/desired.ts, desiredManifestChangesSchema). A toggle sends
 * the head and one text, not the 500 digests.
 */
export function manifestChanges(base: HeldDigests, next: SignedManifest): DesiredManifestChanges {
  const { manifest, tenants: texts, signature, keyId } = next.envelope;
  const edits = digestEdits(base.digests, manifest.digests).map(({ at, drop, from, count }) => ({
    at,
    drop,
    tenants: texts.slice(from, from + count),
  }));
  return { changes: { base: base.generation, head: manifest.head, edits }, signature, keyId };
}
