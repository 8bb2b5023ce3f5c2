import { expect, it } from 'vitest';
import {
  canonicalJson,
  documentContent,
  NODE_DOCUMENT_SCHEMA,
  stampedPayload,
} from '../../src/core/desired-doc.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';

const instance = (id: string, desiredStatus: 'running' | 'warm') => ({
  id,
  ip: '10.240.1.2',
  mac: '02:00:00:00:00:01',
  desiredStatus,
});

function documentOf(tenants: number): NodeDesired {
  return {
    schema: NODE_DOCUMENT_SCHEMA,
    nodeId: 'node-"1"\u00e9',
    generation: 0,
    issuedAt: '',
    tenants: Array.from({ length: tenants }, (_, t) => ({
      id: `t${t}`,
      netId: 10 + t,
      subnet: `10.240.${t}.0/24`,
      gateway: `10.240.${t}.1`,
      vxlanPeers: ['192.0.2.2'],
      egress: t % 2 === 0,
      pools: [
        {
          id: 'web',
          role: 'worker',
          flake: '.',
          profile: 'minimal',
          revision: null,
          vcpus: 1,
          memMib: 256,
          dataDiskMib: 0,
          pinned: false,
          critical: false,
          secretsDigest: null,
          config: { version: 2, files: { 'a\nb': 'x"y', Z: '' } },
          instances: [instance('web-b', 'warm'), instance('web-a', 'running')],
        },
      ],
    })),
  } as unknown as NodeDesired;
}

it('builds the signed payload from the content: the text a whole serialization gives', () => {
  for (const tenants of [0, 1, 3]) {
    const doc = documentOf(tenants);
    for (const stamp of [
      { generation: 1, issuedAt: '2026-12-05T00:00:00.000Z' },
      { generation: 123456789, issuedAt: 'x"\\y' },
    ]) {
      const whole = canonicalJson({ ...doc, ...stamp });
      expect(stampedPayload(documentContent(doc), stamp)).toBe(whole);
      expect(JSON.parse(whole)).toMatchObject({ ...stamp, nodeId: doc.nodeId });
    }
  }
});
