import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { documentStaleness, type FreshnessBounds } from '../../core/document-freshness.ts';
import { errorMessage, MvmError, type ErrorCode } from '../../core/errors.ts';
import { z } from 'zod';
import {
  desiredTenantSchema,
  nodeDesiredSchema,
  signedEnvelopeSchema,
  type DesiredTenant,
  type NodeDesired,
  type SignedEnvelope,
} from '../../contract/desired.ts';
import { payloadHead } from './payload-texts.ts';
import type { ValidatedTenants } from './validated-tenants.ts';

/** Why an agent refused a desired-state document. */
export type RefusalReason =
  'malformed' | 'unsigned' | 'unknown_signer' | 'bad_signature' | 'replay' | 'stale' | 'wrong_node';

const codeOf: Record<RefusalReason, ErrorCode> = {
  malformed: 'invalid_argument',
  unsigned: 'permission_denied',
  unknown_signer: 'permission_denied',
  bad_signature: 'permission_denied',
  replay: 'conflict',
  stale: 'conflict',
  wrong_node: 'conflict',
};

export class DesiredRefusedError extends MvmError {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string, details?: Record<string, unknown>) {
    super(codeOf[reason], `desired-state document refused: ${message}`, { reason, ...details });
    this.reason = reason;
  }
}

/** The freshness bounds (generation, time, age) beside who may sign and for which node. */
export interface VerifyOptions extends FreshnessBounds {
  /** PEM public keys whose signatures this agent accepts. */
  trustedKeys: readonly string[];
  /** Production refuses unsigned documents; dev accepts them with a warning. */
  production: boolean;
  nodeId: string;
  /**
   * The tenants of the documents this agent validated before (a watch keeps one): a tenant
   * equal to a kept one is not validated again (validated-tenants.ts). Absent: all are.
   */
  tenants?: ValidatedTenants;
  /** Trusted keys parsed before (a watch keeps them): absent, parsed for this document. */
  keys?: TrustedKeys;
}

export interface VerifiedDocument {
  document: NodeDesired;
  /** Signer's key id; undefined for an unsigned document accepted in dev mode. */
  keyId: string | undefined;
  warnings: string[];
}

/** Must match the coordinator's: first 16 hex digits of sha256 over the SPKI DER. */
export function keyIdOfPem(pem: string): string {
  return keyIdOf(createPublicKey(pem));
}

function keyIdOf(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/**
 * Trusted keys parsed once, with their ids, by whoever verifies many documents (a watch keeps
 * one): an agent verifies each document with the same few keys, and parsing a PEM and hashing
 * its DER cost ~0.2 ms a key on every document. Kept by the verifier, not by the module, so
 * one watcher's keys are never another's.
 */
export class TrustedKeys {
  private readonly parsed = new Map<string, { key: KeyObject; keyId: string }>();

  of(pem: string): { key: KeyObject; keyId: string } {
    let known = this.parsed.get(pem);
    if (!known) {
      const key = createPublicKey(pem);
      known = { key, keyId: keyIdOf(key) };
      if (this.parsed.size >= MAX_TRUSTED_KEYS) this.parsed.clear();
      this.parsed.set(pem, known);
    }
    return known;
  }
}
const MAX_TRUSTED_KEYS = 64;

/**
 * Checks a desired-state envelope before anything in it is believed: signature over the
 * exact payload bytes by a trusted key, then the document's shape, its node, and that it is
 * newer than what the agent has seen and within its age bound (core/document-freshness.ts).
 * Throws DesiredRefusedError saying which check failed.
 */
export function verifyEnvelope(envelope: unknown, options: VerifyOptions): VerifiedDocument {
  const parsed = signedEnvelopeSchema.safeParse(envelope);
  if (!parsed.success) {
    throw new DesiredRefusedError('malformed', `not a signed envelope (${parsed.error.message})`);
  }
  const warnings: string[] = [];
  const { payload, signature, keyId: signer } = parsed.data;
  const keyId = checkSignature(payload, { signature, keyId: signer }, options, warnings);
  const document = parsePayload(payload, options.tenants);
  acceptDocument(document, options);
  return { document, keyId, warnings };
}

/** Refuses a verified document for another node, or older than the bounds (a replay, stale). */
export function acceptDocument(document: NodeDesired, options: VerifyOptions): void {
  if (document.nodeId !== options.nodeId) {
    throw new DesiredRefusedError(
      'wrong_node',
      `it is for node '${document.nodeId}', this agent is node '${options.nodeId}'`,
      { nodeId: document.nodeId },
    );
  }
  const stale = documentStaleness(document, options);
  if (stale) throw new DesiredRefusedError(stale.reason, stale.message, stale.details);
}

/**
 * Checks `signed` (the exact text signed: a payload, or a manifest's text) against the
 * envelope's signature by a trusted key; the signer's key id, or undefined for an unsigned
 * text accepted in dev mode (with a warning).
 */
export function checkSignature(
  signed: string,
  envelope: Pick<SignedEnvelope, 'signature' | 'keyId'>,
  options: VerifyOptions,
  warnings: string[],
): string | undefined {
  if (envelope.signature === undefined) {
    if (options.production) {
      throw new DesiredRefusedError(
        'unsigned',
        'it carries no signature and this agent runs in production mode',
      );
    }
    warnings.push('accepted an UNSIGNED desired-state document (dev mode only)');
    return undefined;
  }
  const keys = options.keys ?? new TrustedKeys();
  const signer = options.trustedKeys
    .map((pem) => keys.of(pem))
    .find((k) => k.keyId === envelope.keyId)?.key;
  if (!signer) {
    throw new DesiredRefusedError(
      'unknown_signer',
      `signed by key ${envelope.keyId ?? '(no key id)'}, which this agent does not trust; add the coordinator's key (GET /v1/signing-key) to the agent's trusted keys`,
      { keyId: envelope.keyId },
    );
  }
  const signature = Buffer.from(envelope.signature, 'base64');
  if (!verify(null, Buffer.from(signed, 'utf8'), signer, signature)) {
    throw new DesiredRefusedError(
      'bad_signature',
      `the signature does not match the payload for key ${envelope.keyId ?? ''}: forged or altered in transit`,
      { keyId: envelope.keyId },
    );
  }
  return envelope.keyId;
}

/** The document's own members, its tenants checked one by one (see parsePayload). */
export const documentHeadSchema = z.strictObject({
  ...nodeDesiredSchema.shape,
  tenants: z.array(z.unknown()),
});

function parsePayload(payload: string, kept?: ValidatedTenants): NodeDesired {
  const fromTexts = kept && byTenantTexts(payload, kept);
  if (fromTexts) return fromTexts;
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch (error) {
    const cause = errorMessage(error);
    throw new DesiredRefusedError('malformed', `payload is not JSON (${cause})`);
  }
  // The same checks as nodeDesiredSchema, in its order, with the same messages; a tenant
  // equal to one validated before is that one's value again (validated-tenants.ts).
  const head = documentHeadSchema.safeParse(json);
  const problems: string[] = head.success ? [] : issuesOf(head.error.issues);
  const raws = Array.isArray((json as { tenants?: unknown } | null)?.tenants)
    ? (json as { tenants: unknown[] }).tenants
    : [];
  const tenants: DesiredTenant[] = [];
  let reused = 0;
  raws.forEach((raw, i) => {
    const known = kept?.reuse(raw);
    if (known) {
      reused += 1;
      tenants.push(known);
      return;
    }
    const tenant = desiredTenantSchema.safeParse(raw);
    if (tenant.success) tenants.push(tenant.data);
    else problems.push(...issuesOf(tenant.error.issues, ['tenants', i]));
  });
  if (!head.success || problems.length > 0) {
    throw new DesiredRefusedError(
      'malformed',
      `payload is not a node document: ${problems.join('; ')}`,
    );
  }
  kept?.keep(raws, tenants, reused);
  return { ...head.data, tenants };
}

/**
 * The document of a payload laid out as the coordinator writes it, read by its tenants' texts
 * (payload-texts.ts, ValidatedTenants.fromTexts): its head parsed and checked alone, its
 * tenants unchanged since the previous document taken by their text, the others parsed and
 * validated alone. Not the whole 237 KiB through JSON.parse for one changed tenant. Undefined
 * when laid out otherwise or refused: parsePayload then reads it whole and says why.
 */
function byTenantTexts(payload: string, kept: ValidatedTenants): NodeDesired | undefined {
  const at = payloadHead(payload);
  if (!at) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(at.text);
  } catch {
    return undefined;
  }
  const head = documentHeadSchema.safeParse(json);
  if (!head.success) return undefined;
  const tenants = kept.fromTexts(payload, at.tenantsAt);
  if (!tenants) return undefined;
  kept.keep(tenants.raws, tenants.tenants, tenants.reused, tenants.texts);
  return { ...head.data, tenants: tenants.tenants };
}

export function issuesOf(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  prefix: ReadonlyArray<PropertyKey> = [],
): string[] {
  return issues.map((i) => `${[...prefix, ...i.path].map(String).join('.')}: ${i.message}`);
}
