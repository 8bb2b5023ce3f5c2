import type { DesiredTenant, NodeDesired } from '../../contract/desired.ts';
import { canonicalJson } from '../../core/desired-doc.ts';
import { sha256Hex } from '../../core/desired-manifest.ts';

/** A tenant entry's digest: the sha256 of its canonical JSON. */
export const tenantDigest = (tenant: DesiredTenant): string => sha256Hex(canonicalJson(tenant));

/**
 * The digest a document's generation is numbered by (the store's compare-and-set,
 * generation-repo.ts): the sha256 of its node, its schema and its tenants' digests in order,
 * not of its 237 KiB text. Equal content gives an equal digest; other content another one
 * (each part has one text: JSON strings, then fixed-length hex). With each tenant's digest
 * kept beside its entry (desired/tenant-entries.ts), a toggle hashes one tenant's text and
 * ~16 KiB of digests. The agent never sees it: it checks the signature over the payload.
 */
export function documentDigest(
  doc: Pick<NodeDesired, 'nodeId' | 'schema' | 'tenants'>,
  digestOf: (tenant: DesiredTenant) => string = tenantDigest,
): string {
  const head = `${canonicalJson(doc.nodeId)},${canonicalJson(doc.schema)}`;
  return sha256Hex(`${head}:${doc.tenants.map(digestOf).join(',')}`);
}
