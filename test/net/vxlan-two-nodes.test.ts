/**
 * Two node namespaces joined by an underlay veth, each running the real driver with a VXLAN
 * device per tenant (VNI = net id) and the other node as its flood peer. Real packets prove
 * one tenant spans both nodes while the other tenant's instances stay out of reach.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { macFor } from '../../src/core/addresses.ts';
import { tapName } from '../../src/core/naming.ts';
import { verifyNetwork } from '../../src/core/net-invariants.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import type { HostNetworkState, InstanceNetSpec, TenantNetSpec } from '../../src/ports/network.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('tenant VXLAN across nodes', [await netGate('tenant VXLAN across nodes')]);

const PORT = 7000;
const UNDERLAY = ['10.251.0.1', '10.251.0.2'] as const;
const tenant = (netId: number, peer: string): TenantNetSpec => ({
  netId,
  subnet: `10.240.${netId}.0/24`,
  gateway: `10.240.${netId}.1`,
  egress: false,
  vxlanPeers: [peer],
});
const inst = (netId: number, octet: number): InstanceNetSpec => ({
  tenantNetId: netId,
  tap: tapName(netId, octet),
  ip: `10.240.${netId}.${octet}`,
  mac: macFor(netId, octet),
});
/** Node 1 hosts .3 of tenants 5 and 6, node 2 hosts .4 of both. */
const nodeState = (index: 0 | 1): HostNetworkState => {
  const peer = UNDERLAY[index === 0 ? 1 : 0];
  return {
    tenants: [tenant(5, peer), tenant(6, peer)],
    instances: [inst(5, 3 + index), inst(6, 3 + index)],
    underlayIp: UNDERLAY[index],
  };
};

describe.runIf(gate.run)('tenant VXLAN across two nodes (real packets)', () => {
  let lab: NetLab;
  let logDir: string;
  const nodes: string[] = [];
  const drivers: LinuxNetworkDriver[] = [];
  const g: Record<'a5' | 'a6' | 'b5' | 'b6', string> = { a5: '', a6: '', b5: '', b6: '' };

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'mvm-vxlan-'));
    lab = new NetLab(logDir);
    for (const label of ['n1', 'n2']) nodes.push(await lab.namespace(label));
    const [n1 = '', n2 = ''] = nodes;
    await lab.link(n1, 'ul0', `${UNDERLAY[0]}/24`, n2, 'ul0', `${UNDERLAY[1]}/24`);
    g.a5 = await lab.guest(n1, 'a5', { ...inst(5, 3), gateway: '10.240.5.1' });
    g.a6 = await lab.guest(n1, 'a6', { ...inst(6, 3), gateway: '10.240.6.1' });
    g.b5 = await lab.guest(n2, 'b5', { ...inst(5, 4), gateway: '10.240.5.1' });
    g.b6 = await lab.guest(n2, 'b6', { ...inst(6, 4), gateway: '10.240.6.1' });
    for (const [i, ns] of [n1, n2].entries()) {
      const driver = new LinuxNetworkDriver({ runner, netns: ns });
      drivers.push(driver);
      await driver.apply(nodeState(i === 0 ? 0 : 1));
    }
    for (const name of ['b5', 'b6', 'a6'] as const) await lab.serve(g[name], name, PORT);
  });

  afterAll(async () => {
    await lab?.cleanup();
    await rm(logDir, { recursive: true, force: true });
  });

  it('verifies clean on both nodes, VXLAN devices and flood entries included', async () => {
    for (const [i, driver] of drivers.entries()) {
      expect(verifyNetwork(nodeState(i === 0 ? 0 : 1), await driver.observe())).toEqual([]);
    }
  });

  it('carries one tenant across nodes: ping, TCP and UDP', async () => {
    expect(await lab.ping(g.a5, '10.240.5.4')).toBe(true);
    expect(await lab.probe(g.a5, 'tcp', '10.240.5.4', PORT)).toBe('b5 10.240.5.3');
    expect(await lab.probe(g.a5, 'udp', '10.240.5.4', PORT)).toBe('b5 10.240.5.3');
    expect(await lab.probe(g.b6, 'tcp', '10.240.6.3', PORT)).toBe('a6 10.240.6.4');
  });

  it("never reaches the other tenant's instances on the other node", async () => {
    const results = await Promise.all([
      lab.ping(g.a5, '10.240.6.4'),
      lab.probe(g.a5, 'tcp', '10.240.6.4', PORT),
      lab.probe(g.a5, 'udp', '10.240.6.4', PORT),
      lab.probe(g.b5, 'tcp', '10.240.6.3', PORT),
      lab.ping(g.b5, '10.240.6.3'),
    ]);
    expect(results).toEqual([false, undefined, undefined, undefined, false]);
  });

  it('rejects forged sources arriving over VXLAN as well', async () => {
    await lab.ip(g.a5, ['addr', 'add', '10.240.5.9/24', 'dev', 'eth0']);
    expect(await lab.ping(g.a5, '10.240.5.4', '10.240.5.9')).toBe(false);
    await lab.ip(g.a5, ['addr', 'del', '10.240.5.9/24', 'dev', 'eth0']);
  });

  it('names a missing flood entry, then teardown removes the VXLAN device with its tenant', async () => {
    const [n1 = ''] = nodes;
    await runner.run('bridge', [
      '-n',
      n1,
      'fdb',
      'del',
      '00:00:00:00:00:00',
      'dev',
      'mvx5',
      'dst',
      UNDERLAY[1],
    ]);
    const found = verifyNetwork(nodeState(0), await drivers[0]!.observe()).map(
      (v) => `${v.code} ${v.subject}`,
    );
    expect(found).toEqual(['fdb_missing mvx5']);
    expect(await lab.ping(g.a5, '10.240.5.4')).toBe(false);
    await drivers[0]!.apply(nodeState(0));
    expect(await lab.ping(g.a5, '10.240.5.4')).toBe(true);
    await drivers[0]!.teardownTenant(5);
    const names = (await drivers[0]!.observe()).links.map((l) => l.name);
    expect(names.filter((n) => ['br-tenant-5', 'mvx5', 'mvt5-3'].includes(n))).toEqual([]);
    expect(names).toContain('mvx6');
    for (const driver of drivers) await driver.apply({ tenants: [], instances: [] });
    for (const ns of nodes) {
      const links = (await lab.exec(ns, 'ip', ['-br', 'link'])).stdout;
      expect(links).not.toMatch(/br-tenant-|mvx|mvt/);
    }
  });
});
