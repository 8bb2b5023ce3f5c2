/**
 * tenantPeersByNodes (each tenant's node ids, as the store aggregates them) gives what
 * tenantPeers gives for the same placement listed instance by instance.
 */
import { describe, expect, it } from 'vitest';
import {
  tenantPeers,
  tenantPeersByNodes,
  type PeerInstance,
  type PeerNode,
} from '../../src/core/vxlan-peers.ts';

function lcg(seed: number) {
  let x = seed;
  return (n: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
}

describe('tenantPeersByNodes', () => {
  it('agrees with tenantPeers on 200 random fleets', () => {
    for (let seed = 1; seed <= 200; seed += 1) {
      const pick = lcg(seed);
      const nodes: PeerNode[] = Array.from({ length: 1 + pick(8) }, (_, k) => ({
        id: `n${k}`,
        status: pick(5) === 0 ? 'lost' : 'ready',
        // Some without an address, some sharing one (also with the viewing node).
        underlayIp: pick(6) === 0 ? null : `192.0.2.${1 + pick(6)}`,
      }));
      const instances: PeerInstance[] = Array.from({ length: pick(30) }, () => ({
        tenantId: `t${pick(4)}`,
        nodeId: `n${pick(10)}`,
        desiredStatus: 'running',
      }));
      const held = new Map<string, Set<string>>();
      for (const i of instances) {
        const set = held.get(i.tenantId) ?? new Set<string>();
        if (i.nodeId !== null) set.add(i.nodeId);
        held.set(i.tenantId, set);
      }
      const rows = [...held].map(([tenantId, ids]) => ({ tenantId, nodeIds: [...ids].sort() }));
      const viewer = `n${pick(8)}`;
      expect(tenantPeersByNodes(viewer, nodes, rows), `seed ${seed}`).toEqual(
        tenantPeers(viewer, nodes, instances),
      );
    }
  });
});
