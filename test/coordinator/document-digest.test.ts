/**
 * A document's digest is made of its tenants' digests (desired/document-digest.ts): equal
 * content gives an equal digest however the tenants' digests were obtained, and a change of
 * any part (the node, a tenant's text, the tenants' order or count) gives another.
 */
import { expect, it } from 'vitest';
import { documentDigest } from '../../src/coordinator/desired/document-digest.ts';
import { sha256Hex } from '../../src/core/desired-manifest.ts';
import type { DesiredTenant, NodeDesired } from '../../src/contract/desired.ts';
import { canonicalJson, NODE_DOCUMENT_SCHEMA } from '../../src/core/desired-doc.ts';

const tenant = (id: string, egress = false): DesiredTenant => ({
  egress,
  gateway: '10.240.0.1',
  id,
  netId: 1,
  pools: [],
  subnet: '10.240.0.0/24',
  vxlanPeers: [],
});
const doc = (
  nodeId: string,
  tenants: DesiredTenant[],
): Pick<NodeDesired, 'nodeId' | 'schema' | 'tenants'> => ({
  nodeId,
  schema: NODE_DOCUMENT_SCHEMA,
  tenants,
});

it('follows the content, whoever gives the tenants’ digests', () => {
  const base = doc('n1', [tenant('t0'), tenant('t1')]);
  const digest = documentDigest(base);
  const kept = new Map(base.tenants.map((t) => [t, sha256Hex(canonicalJson(t))]));
  expect(documentDigest(base, (t) => kept.get(t) ?? '?')).toBe(digest);
  expect(documentDigest(doc('n1', [tenant('t0'), tenant('t1')]))).toBe(digest);
  const others = [
    doc('n2', base.tenants),
    doc('n1', [tenant('t1'), tenant('t0')]),
    doc('n1', [tenant('t0'), tenant('t1', true)]),
    doc('n1', [tenant('t0')]),
    doc('n1', [tenant('t0'), tenant('t1'), tenant('t1')]),
    doc('n1', []),
  ];
  const digests = new Set([digest, ...others.map((d) => documentDigest(d))]);
  expect(digests.size).toBe(others.length + 1);
});
