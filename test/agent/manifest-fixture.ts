import type { DesiredTenant } from '../../src/contract/desired.ts';
import { ephemeralSigningKey } from '../../src/coordinator/desired/signing-key.ts';

/** What the manifest tests sign with and verify against: one key, node-1's document head. */
export const key = ephemeralSigningKey();

export const tenant = (id: string, netId: number): DesiredTenant => ({
  id,
  netId,
  subnet: `10.0.${netId}.0/24`,
  gateway: `10.0.${netId}.1`,
  vxlanPeers: [],
  egress: false,
  pools: [],
});

/** A document's head up to its tenants' list, as a manifest's first line carries it. */
export const manifestHead = (generation: number) =>
  `{"generation":${generation},"issuedAt":"2026-11-22T00:00:00.000Z","nodeId":"node-1","schema":"mvm.node-desired/v1","tenants":[`;

export const verifyOptions = {
  trustedKeys: [key.publicKeyPem],
  production: true,
  nodeId: 'node-1',
  lastGeneration: 0,
};
