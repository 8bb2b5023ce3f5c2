import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { documentStaleness, type FreshnessBounds } from '../../core/document-freshness.ts';
import { errorMessage, MvmError, type ErrorCode } from '../../core/errors.ts';
import {
  nodeDesiredSchema,
  signedEnvelopeSchema,
  type NodeDesired,
  type SignedEnvelope,
} from '../../contract/desired.ts';

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
  const keyId = checkSignature(parsed.data, options, warnings);
  const document = parsePayload(parsed.data.payload);
  if (document.nodeId !== options.nodeId) {
    throw new DesiredRefusedError(
      'wrong_node',
      `it is for node '${document.nodeId}', this agent is node '${options.nodeId}'`,
      { nodeId: document.nodeId },
    );
  }
  const stale = documentStaleness(document, options);
  if (stale) throw new DesiredRefusedError(stale.reason, stale.message, stale.details);
  return { document, keyId, warnings };
}

function checkSignature(
  envelope: SignedEnvelope,
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
  const keys = options.trustedKeys.map((pem) => createPublicKey(pem));
  const signer = keys.find((key) => keyIdOf(key) === envelope.keyId);
  if (!signer) {
    throw new DesiredRefusedError(
      'unknown_signer',
      `signed by key ${envelope.keyId ?? '(no key id)'}, which this agent does not trust; add the coordinator's key (GET /v1/signing-key) to the agent's trusted keys`,
      { keyId: envelope.keyId },
    );
  }
  const signature = Buffer.from(envelope.signature, 'base64');
  if (!verify(null, Buffer.from(envelope.payload, 'utf8'), signer, signature)) {
    throw new DesiredRefusedError(
      'bad_signature',
      `the signature does not match the payload for key ${envelope.keyId ?? ''}: forged or altered in transit`,
      { keyId: envelope.keyId },
    );
  }
  return envelope.keyId;
}

function parsePayload(payload: string): NodeDesired {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch (error) {
    const cause = errorMessage(error);
    throw new DesiredRefusedError('malformed', `payload is not JSON (${cause})`);
  }
  const result = nodeDesiredSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new DesiredRefusedError(
      'malformed',
      `payload is not a node document: ${problems.join('; ')}`,
    );
  }
  return result.data;
}
