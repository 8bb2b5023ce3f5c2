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
