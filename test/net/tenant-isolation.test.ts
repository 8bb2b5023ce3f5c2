/**
 * One node namespace running the real LinuxNetworkDriver, tenant 5 (egress) with guests a
 * and b, tenant 6 (no egress) with guest c, and an "outside" namespace behind an uplink.
 * Real packets prove: same tenant works, everything across tenants and toward host services
 * fails, forged IPs and MACs get nothing through, verify sees tampering, teardown is total.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { macFor } from '../../src/core/addresses.ts';
import { tapName } from '../../src/core/naming.ts';
import { verifyNetwork } from '../../src/core/net-invariants.ts';
import { buildRuleset } from '../../src/core/nft-ruleset.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import type { HostNetworkState, InstanceNetSpec } from '../../src/ports/network.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('tenant network isolation', [await netGate('tenant network isolation')]);

const PORT = 7000;

interface NftJsonRule {
  handle: number;
  expr: unknown[];
}
/** `iifname "br-tenant-*" oifname "br-tenant-*" drop`, recognised in nft's JSON. */
const isCrossTenantDrop = (rule: NftJsonRule): boolean =>
  JSON.stringify(rule.expr) ===
  JSON.stringify([
    { match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'br-tenant-*' } },
    { match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'br-tenant-*' } },
    { drop: null },
  ]);
const t5 = {
  netId: 5,
  subnet: '10.240.5.0/24',
  gateway: '10.240.5.1',
  egress: true,
  vxlanPeers: [],
};
const t6 = {
  netId: 6,
  subnet: '10.240.6.0/24',
  gateway: '10.240.6.1',
  egress: false,
  vxlanPeers: [],
};
const inst = (netId: number, octet: number): InstanceNetSpec => ({
  tenantNetId: netId,
  tap: tapName(netId, octet),
  ip: `10.240.${netId}.${octet}`,
  mac: macFor(netId, octet),
});
const a = inst(5, 3);
const b = inst(5, 4);
const c = inst(6, 3);
const state: HostNetworkState = {
  tenants: [t5, t6],
  instances: [a, b, c],
  services: { metadata: { ip: '169.254.169.254', port: 80 } },
};

describe.runIf(gate.run)('tenant isolation on one node (real packets)', () => {
  let lab: NetLab;
  let logDir: string;
  let node: string;
  let driver: LinuxNetworkDriver;
  const ns: Record<'a' | 'b' | 'c' | 'out', string> = { a: '', b: '', c: '', out: '' };
  const nodeNft = (args: string[]) => lab.exec(node, 'nft', args);
  const violations = async (s: HostNetworkState = state) =>
    verifyNetwork(s, await driver.observe());

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'mvm-net-'));
    lab = new NetLab(logDir);
    node = await lab.namespace('node');
    driver = new LinuxNetworkDriver({ runner, netns: node });
    ns.a = await lab.guest(node, 'a', { ...a, gateway: t5.gateway });
    ns.b = await lab.guest(node, 'b', { ...b, gateway: t5.gateway });
    ns.c = await lab.guest(node, 'c', { ...c, gateway: t6.gateway });
    ns.out = await lab.namespace('out');
    await lab.link(node, 'up0', '10.250.0.1/30', ns.out, 'eth0', '10.250.0.2/30');
    await lab.ip(ns.out, ['route', 'add', '10.240.0.0/16', 'via', '10.250.0.1']);
    await driver.apply(state);
    for (const [where, name] of [
      [ns.b, 'b'],
      [ns.c, 'c'],
      [node, 'host'],
      [ns.out, 'out'],
    ] as const) {
      await lab.serve(where, name, PORT);
    }
  });

  afterAll(async () => {
    await lab?.cleanup();
    await rm(logDir, { recursive: true, force: true });
  });

  it('converges: verify is clean, and a second apply leaves exactly one copy of each rule', async () => {
    expect(await violations()).toEqual([]);
    await driver.apply(state);
    await driver.apply(state);
    const listed = JSON.parse((await nodeNft(['-j', 'list', 'ruleset'])).stdout) as {
      nftables: object[];
    };
    const rules = listed.nftables.filter((x) => 'rule' in x).length;
    const expected = buildRuleset(state).flatMap((t) => t.chains.flatMap((ch) => ch.rules)).length;
    expect(rules).toBe(expected);
    expect(await violations()).toEqual([]);
  });

  it('control: without mvm tables the same cross-tenant and forged probes would get through', async () => {
    for (const table of ['inet mvm_filter', 'bridge mvm_bridge', 'ip mvm_nat']) {
      await nodeNft(['delete', 'table', ...table.split(' ')]);
    }
    expect(await lab.ping(ns.a, c.ip)).toBe(true);
    expect(await lab.probe(ns.a, 'tcp', t6.gateway, PORT)).toBe(`host ${a.ip}`);
    await lab.ip(ns.a, ['addr', 'add', '10.240.5.9/24', 'dev', 'eth0']);
    expect(await lab.ping(ns.a, b.ip, '10.240.5.9')).toBe(true);
    await lab.ip(ns.a, ['addr', 'del', '10.240.5.9/24', 'dev', 'eth0']);
    expect((await violations()).map((v) => v.code)).toContain('nft_table_missing');
    await driver.apply(state);
    expect(await violations()).toEqual([]);
  });

  it('lets one tenant talk to itself: ping, TCP and UDP, and ping its own gateway', async () => {
    expect(await lab.ping(ns.a, b.ip)).toBe(true);
    expect(await lab.probe(ns.a, 'tcp', b.ip, PORT)).toBe(`b ${a.ip}`);
    expect(await lab.probe(ns.a, 'udp', b.ip, PORT)).toBe(`b ${a.ip}`);
    expect(await lab.ping(ns.a, t5.gateway)).toBe(true);
  });

  it('drops every cross-tenant path: routed, on-link, and in both directions', async () => {
    expect(await lab.ping(ns.a, c.ip)).toBe(false);
    expect(await lab.probe(ns.a, 'tcp', c.ip, PORT)).toBeUndefined();
    expect(await lab.probe(ns.a, 'udp', c.ip, PORT)).toBeUndefined();
    expect(await lab.ping(ns.c, a.ip)).toBe(false);
    expect(await lab.probe(ns.c, 'tcp', b.ip, PORT)).toBeUndefined();
    // Treating the other subnet as on-link only makes ARP go unanswered on the own bridge.
    await lab.ip(ns.a, ['route', 'add', t6.subnet, 'dev', 'eth0']);
    expect(await lab.ping(ns.a, c.ip)).toBe(false);
    await lab.ip(ns.a, ['route', 'del', t6.subnet, 'dev', 'eth0']);
  });

  it("keeps the host's services and other tenants' gateways out of reach", async () => {
    expect(await lab.probe(node, 'tcp', '127.0.0.1', PORT)).toBe('host 127.0.0.1');
    expect(await lab.probe(ns.a, 'tcp', t5.gateway, PORT)).toBeUndefined();
    expect(await lab.probe(ns.a, 'udp', t5.gateway, PORT)).toBeUndefined();
    expect(await lab.ping(ns.a, t6.gateway)).toBe(false);
    expect(await lab.probe(ns.a, 'tcp', t6.gateway, PORT)).toBeUndefined();
    expect(await lab.probe(ns.c, 'tcp', '10.250.0.1', PORT)).toBeUndefined();
  });

  it('gets nothing through from a forged source IP or a forged MAC', async () => {
    await lab.ip(ns.a, ['addr', 'add', '10.240.5.9/24', 'dev', 'eth0']);
    expect(await lab.ping(ns.a, b.ip, '10.240.5.9')).toBe(false);
    await lab.ip(ns.a, ['addr', 'del', '10.240.5.9/24', 'dev', 'eth0']);
    await lab.ip(ns.a, ['link', 'set', 'eth0', 'address', macFor(5, 77)]);
    expect(await lab.ping(ns.a, b.ip)).toBe(false);
    expect(await lab.probe(ns.a, 'tcp', b.ip, PORT)).toBeUndefined();
    await lab.ip(ns.a, ['link', 'set', 'eth0', 'address', a.mac]);
    expect(await lab.ping(ns.a, b.ip)).toBe(true);
  });

  it('masquerades egress for tenants that allow it and for no one else', async () => {
    expect(await lab.probe(ns.a, 'tcp', '10.250.0.2', PORT)).toBe('out 10.250.0.1');
    expect(await lab.probe(ns.c, 'tcp', '10.250.0.2', PORT)).toBeUndefined();
    expect(await lab.probe(ns.out, 'tcp', b.ip, PORT)).toBeUndefined();
  });

  it('names the fault after a rule is deleted, duplicated, a port detached or an orphan added', async () => {
    const listed = await nodeNft(['-j', '-a', 'list', 'chain', 'inet', 'mvm_filter', 'forward']);
    const rules = (JSON.parse(listed.stdout) as { nftables: Array<{ rule?: NftJsonRule }> })
      .nftables;
    const handle = String(rules.find((x) => x.rule && isCrossTenantDrop(x.rule))?.rule?.handle);
    await nodeNft(['delete', 'rule', 'inet', 'mvm_filter', 'forward', 'handle', handle]);
    await nodeNft([
      'add',
      'rule',
      'inet',
      'mvm_filter',
      'input',
      'iifname',
      'br-tenant-*',
      'drop',
      'comment',
      'host',
    ]);
    await lab.ip(node, ['link', 'set', b.tap, 'nomaster']);
    await runner.run('ip', ['-n', node, 'tuntap', 'add', 'dev', 'mvt5-99', 'mode', 'tap']);
    const found = await violations();
    const codes = found.map((v) => `${v.code} ${v.subject}`);
    expect(codes).toContain(
      'nft_rule_missing inet mvm_filter forward: iifname br-tenant-* ; oifname br-tenant-* ; drop # host',
    );
    expect(codes).toContain(
      'nft_rule_duplicate inet mvm_filter input: iifname br-tenant-* ; drop # host',
    );
    expect(codes).toContain(`port_detached ${b.tap}`);
    expect(codes).toContain('orphan_link mvt5-99');
    expect(await lab.ping(ns.a, c.ip)).toBe(false);
    await driver.apply(state);
    expect(await violations()).toEqual([]);
  });

  it('tears down one tenant completely and leaves the other one working', async () => {
    await driver.teardownTenant(6);
    const rest: HostNetworkState = { ...state, tenants: [t5], instances: [a, b] };
    expect(await violations(rest)).toEqual([]);
    expect(await lab.ping(ns.a, b.ip)).toBe(true);
    await driver.apply({ tenants: [], instances: [] });
    const links = (await driver.observe()).links.map((l) => l.name);
    expect(links.filter((n) => /^(br-tenant-|mvt|mvx)/.test(n))).toEqual([]);
    expect((await nodeNft(['list', 'ruleset'])).stdout).not.toContain('mvm_');
    expect(await violations({ tenants: [], instances: [] })).toEqual([]);
  });
});
