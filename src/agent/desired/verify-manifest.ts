import {
  desiredManifestSchema,
  desiredTenantSchema,
  type DesiredManifest,
  type DesiredManifestChanges,
  type DesiredTenant,
  type ManifestEnvelope,
  type NodeDesired,
  type StoredEnvelope,
} from '../../contract/desired.ts';
import { manifestText, sha256Hex } from '../../core/desired-manifest.ts';
import { DeltaUnusableError } from './delta-payload.ts';
import { payloadHead } from './payload-texts.ts';
import {
  acceptDocument,
  checkSignature,
  DesiredRefusedError,
  documentHeadSchema,
  issuesOf,
  verifyEnvelope,
  type VerifiedDocument,
  type VerifyOptions,
} from './verify-desired.ts';

interface Held {
  text: string;
  tenant: DesiredTenant;
}

/**
 * The tenants of the last document an agent accepted, by the digest its signed manifest gave
 * each text (verified then): a later manifest's tenant under the same digest is that text and
 * that validated tenant again, neither hashed nor parsed. A whole document's tenants are kept
 * too (`keepTexts`), hashed once, so the next manifest may leave them out.
 */
export class ManifestTenants {
  /** The generation of the document held (0: none): what a manifest's changes are against. */
  private heldGeneration = 0;
  /** The held digests in their document's order, and their tenants at the same places. */
  private list: readonly string[] = [];
  private entries: readonly Held[] = [];
  /** Where each digest is, built at the first look-up that misses its place. */
  private at: Map<string, number> | undefined;
  /** Of the last manifest: tenants taken as held, texts hashed, texts parsed (tests, benches). */
  last = { held: 0, hashed: 0, parsed: 0 };

  /**
   * The tenant held under `digest`; `i` is where the manifest lists it: a later manifest lists
   * most at the place the held one did, so a digest is compared with the one held there first
   * (a manifest's digests are fresh strings: a map would hash each of the 500 at every answer).
   */
  get(digest: string, i = -1): Held | undefined {
    if (this.list[i] === digest) return this.entries[i];
    this.at ??= new Map(this.list.map((d, j) => [d, j]));
    const j = this.at.get(digest);
    return j === undefined ? undefined : this.entries[j];
  }

  /** Keeps a verified manifest's tenants (of `generation`: 0 when its changes are not to come). */
  keep(
    digests: readonly string[],
    texts: readonly string[],
    tenants: readonly DesiredTenant[],
    generation = 0,
  ) {
    this.heldGeneration = generation;
    this.list = digests;
    this.entries = digests.map((_, i) => ({
      text: texts[i] as string,
      tenant: tenants[i] as DesiredTenant,
    }));
    this.at = undefined;
  }

  get generation(): number {
    return this.heldGeneration;
  }

  get digests(): readonly string[] {
    return this.list;
  }

  /** Keeps a document verified another way (a payload signature) by its texts' digests. */
  keepTexts(
    generation: number,
    texts: readonly string[] | undefined,
    tenants: readonly DesiredTenant[],
  ): void {
    if (texts === undefined || texts.length !== tenants.length) this.keep([], [], []);
    else this.keep(texts.map(sha256Hex), texts, tenants, generation);
  }
}

/** A verified manifest: the document, and the manifest with every text (what is kept). */
export interface VerifiedManifest {
  verified: VerifiedDocument;
  envelope: ManifestEnvelope;
}

/**
 * Checks a document signed as a manifest (contract/desired.ts, desiredManifestSchema) before
 * anything in it is believed: the signature over the manifest's text (core/desired-manifest.ts)
 * by a trusted key; then each tenant's text: one held under its digest (`held`: verified with a
 * manifest that gave it that digest, or hashed to it) is taken as it is, any other must hash
 * to its digest and is parsed and validated alone; then the head, the node and the bounds as
 * for a payload. What is accepted is the payload the coordinator signed, byte for byte: its
 * head, and texts whose digests it signed in that order. A text left out (null) that is not
 * held is a DeltaUnusableError: the watch asks for the document whole.
 */
export function verifyManifest(
  answer: unknown,
  options: VerifyOptions,
  held?: ManifestTenants,
): VerifiedManifest {
  const parsed = desiredManifestSchema.safeParse(answer);
  if (!parsed.success) {
    throw new DesiredRefusedError('malformed', `not a signed manifest (${parsed.error.message})`);
  }
  return verifyParsed(parsed.data, options, held);
}

/**
 * Checks a manifest sent as its changes against the one held (contract/desired.ts,
 * desiredManifestChangesSchema, checked by the API client): the held digests with the edits
 * applied, each new text hashed, are the manifest whose text the one signature covers, then
 * verified as a manifest whose kept tenants are held. Changes against another generation than
 * the one held are a DeltaUnusableError; edits out of the held digests' range, out of order or
 * at one place twice are malformed.
 */
export function verifyManifestChanges(
  answer: DesiredManifestChanges,
  options: VerifyOptions,
  held: ManifestTenants | undefined,
): VerifiedManifest {
  const { base, head, edits } = answer.changes;
  if (held === undefined || held.generation !== base) {
    throw new DeltaUnusableError(
      `the manifest's changes are against generation ${base}, this agent holds ${held?.generation ? held.generation : 'none'}`,
    );
  }
  const { digests, items, places } = applyEdits(held.digests, edits);
  const { signature, keyId } = answer;
  return verifyParsed(
    { manifest: { head, digests }, tenants: items, signature, keyId },
    options,
    held,
    places,
  );
}

/**
 * The held digests with the edits applied: each kept digest with a null item (held) and its
 * place in `held`, each new text with its digest and place -1.
 */
function applyEdits(held: readonly string[], edits: DesiredManifestChanges['changes']['edits']) {
  const digests: string[] = [];
  const items: Array<string | null> = [];
  const places: number[] = [];
  let i = 0;
  edits.forEach(({ at, drop, tenants }, n) => {
    // At least one held digest between two edits: one reading, and no place changed twice.
    const first = n === 0 ? 0 : i + 1;
    if (at < first || at + drop > held.length || drop + tenants.length === 0) {
      throw new DesiredRefusedError(
        'malformed',
        `the manifest's change ${n} (at ${at}, dropping ${drop} of ${held.length}) is out of order or range, or empty`,
      );
    }
    for (; i < at; i += 1) {
      digests.push(held[i] as string);
      items.push(null);
      places.push(i);
    }
    for (const text of tenants) {
      digests.push(sha256Hex(text));
      items.push(text);
      places.push(-1);
    }
    i = at + drop;
  });
  for (; i < held.length; i += 1) {
    digests.push(held[i] as string);
    items.push(null);
    places.push(i);
  }
  return { digests, items, places };
}

/**
 * A manifest checked against its schema, verified: `places`, for one rebuilt from changes, says
 * where each digest is held (-1: a new text, whose digest is its own hash).
 */
function verifyParsed(
  parsed: DesiredManifest,
  options: VerifyOptions,
  held: ManifestTenants | undefined,
  places?: readonly number[],
): VerifiedManifest {
  const { manifest, tenants: items, signature, keyId } = parsed;
  const warnings: string[] = [];
  checkSignature(manifestText(manifest.head, manifest.digests), parsed, options, warnings);
  if (items.length !== manifest.digests.length) {
    throw new DesiredRefusedError(
      'malformed',
      `it carries ${items.length} tenants for the manifest's ${manifest.digests.length}`,
    );
  }
  const head = parseHead(manifest.head);
  // The bounds first: a replayed or another node's manifest is refused before its texts.
  acceptDocument({ ...head, tenants: [] }, options);
  const { texts, tenants } = manifestTenants(items, manifest.digests, held, places);
  const document = { ...head, tenants };
  const envelope = { manifest, tenants: texts, signature, keyId };
  return { verified: { document, keyId, warnings }, envelope };
}

/** The manifest's tenants, each held under its digest or hashed to it, then parsed. */
function manifestTenants(
  items: ReadonlyArray<string | null>,
  digests: readonly string[],
  held: ManifestTenants | undefined,
  places: readonly number[] | undefined,
): { texts: string[]; tenants: DesiredTenant[] } {
  const texts: string[] = [];
  const tenants: DesiredTenant[] = [];
  const counts = { held: 0, hashed: 0, parsed: 0 };
  items.forEach((item, i) => {
    const digest = digests[i] as string;
    const place = places ? (places[i] as number) : i;
    // A new text of a manifest's changes: its digest is its hash (applyEdits), held or not.
    const fresh = place === -1;
    const known = fresh ? undefined : held?.get(digest, place);
    if (known && (item === null || item === known.text)) {
      counts.held += 1;
      texts.push(known.text);
      tenants.push(known.tenant);
      return;
    }
    if (item === null) {
      throw new DeltaUnusableError(`tenant ${i}'s text was left out and is not held`);
    }
    counts.hashed += 1;
    if (!fresh && sha256Hex(item) !== digest) {
      throw new DesiredRefusedError(
        'bad_signature',
        `tenant ${i}'s text does not match its digest in the signed manifest: forged or altered in transit`,
        { index: i },
      );
    }
    counts.parsed += 1;
    texts.push(item);
    tenants.push(parseTenant(item, i));
  });
  if (held) held.last = counts;
  return { texts, tenants };
}

/** The head as a document of no tenants: laid out as the coordinator writes it, and checked. */
function parseHead(text: string): NodeDesired {
  const at = payloadHead(`${text}]}`);
  if (at?.tenantsAt !== text.length) {
    throw new DesiredRefusedError('malformed', "the manifest's head is not a document's head");
  }
  const head = documentHeadSchema.safeParse(JSON.parse(at.text));
  if (!head.success) {
    const problems = issuesOf(head.error.issues).join('; ');
    throw new DesiredRefusedError(
      'malformed',
      `the manifest's head is not a document's: ${problems}`,
    );
  }
  return { ...head.data, tenants: [] };
}

function parseTenant(text: string, i: number): DesiredTenant {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DesiredRefusedError('malformed', `tenant ${i}'s text is not JSON`);
  }
  const tenant = desiredTenantSchema.safeParse(json);
  if (tenant.success) return tenant.data;
  const problems = issuesOf(tenant.error.issues, ['tenants', i]).join('; ');
  throw new DesiredRefusedError('malformed', `payload is not a node document: ${problems}`);
}

/** Verifies what an agent kept (desired-file-store.ts): signed over its payload or its manifest. */
export function verifyStored(envelope: StoredEnvelope, options: VerifyOptions): VerifiedDocument {
  if ('manifest' in envelope) return verifyManifest(envelope, options).verified;
  return verifyEnvelope(envelope, options);
}
