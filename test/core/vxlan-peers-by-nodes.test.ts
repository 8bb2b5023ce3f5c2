/**
 * tenantPeersByNodes (each tenant's node ids, as the store aggregates them) gives what
 * tenantPeers gives for the same placement listed instance by instance, and what it gave when
 * it sorted each tenant's list on its own (the reference below).
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/core/ipv4.ts';
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

/** As lcg, from the state's high bits: its low bits repeat in short cycles. */
function highBits(seed: number) {
  let x = seed;
  return (n: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((x / 2 ** 31) * n);
  };
}

/** tenantPeersByNodes as it was: each tenant's addresses collected, then sorted alone. */
function reference(
  nodeId: string,
  nodes: readonly PeerNode[],
  held: ReadonlyArray<{ tenantId: string; nodeIds: readonly string[] }>,
): Map<string, string[]> {
  const own = nodes.find((n) => n.id === nodeId)?.underlayIp ?? null;
  const reachable = new Map<string, string>();
  for (const n of nodes) {
    if (n.id === nodeId || n.status === 'lost' || n.underlayIp === null) continue;
    if (n.underlayIp !== own) reachable.set(n.id, n.underlayIp);
  }
  const peers = new Map<string, string[]>();
  for (const { tenantId, nodeIds } of held) {
    const set = new Set<string>();
    for (const id of nodeIds) {
      const address = reachable.get(id);
      if (address !== undefined) set.add(address);
    }
    if (set.size > 0) peers.set(tenantId, [...(peers.get(tenantId) ?? []), ...set]);
  }
  const byAddress = (a: string, b: string) => parseIpv4(a) - parseIpv4(b);
  return new Map([...peers].map(([tenant, list]) => [tenant, [...new Set(list)].sort(byAddress)]));
}

describe('tenantPeersByNodes', () => {
  it('gives each tenant its list as sorting it alone did, on 300 random fleets', () => {
    for (let seed = 1; seed <= 300; seed += 1) {
      const pick = highBits(seed);
      const nodes: PeerNode[] = Array.from({ length: 1 + pick(40) }, (_, k) => ({
        id: `n${k}`,
        status: pick(6) === 0 ? 'lost' : 'ready',
        // Addresses whose text order is not their order, some shared, some absent.
        underlayIp: pick(8) === 0 ? null : `10.${pick(3)}.${pick(12)}.${pick(120)}`,
      }));
      // A tenant may come twice, list unknown nodes, or none.
      const held = Array.from({ length: pick(25) }, () => ({
        tenantId: `t${pick(15)}`,
        nodeIds: Array.from({ length: pick(30) }, () => `n${pick(45)}`),
      }));
      const viewer = `n${pick(45)}`;
      expect(tenantPeersByNodes(viewer, nodes, held), `seed ${seed}`).toEqual(
        reference(viewer, nodes, held),
      );
    }
  });

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
