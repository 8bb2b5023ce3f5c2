import { describe, expect, it } from 'vitest';
import {
  buildRuleset,
  renderApplyScript,
  renderRule,
  renderTenantRemovalScript,
  ruleSignature,
} from '../../src/core/nft-ruleset.ts';
import type { HostNetworkState, ObservedNft } from '../../src/ports/network.ts';

const state: HostNetworkState = {
  tenants: [
    {
      netId: 5,
      subnet: '10.240.5.0/24',
      gateway: '10.240.5.1',
      egress: true,
      vxlanPeers: ['10.9.0.2'],
    },
    { netId: 6, subnet: '10.240.6.0/24', gateway: '10.240.6.1', egress: false, vxlanPeers: [] },
  ],
  instances: [{ tenantNetId: 5, tap: 'mvt5-3', ip: '10.240.5.3', mac: '02:6D:76:00:05:03' }],
  underlayIp: '10.9.0.1',
  services: { metadata: { ip: '169.254.169.254', port: 80 } },
};

const chain = (family: string, name: string) =>
  buildRuleset(state)
    .find((t) => t.family === family)
    ?.chains.find((c) => c.name === name);
const texts = (family: string, name: string) => (chain(family, name)?.rules ?? []).map(renderRule);

describe('buildRuleset', () => {
  it('has no tables for a node without tenants', () => {
    expect(buildRuleset({ tenants: [], instances: [] })).toEqual([]);
  });

  it('accepts same-tenant forwarding before dropping every cross-tenant path', () => {
    const forward = texts('inet', 'forward');
    const cross = forward.indexOf(
      'iifname "br-tenant-*" oifname "br-tenant-*" drop comment "host"',
    );
    expect(
      forward.indexOf('iifname "br-tenant-5" oifname "br-tenant-5" accept comment "t5"'),
    ).toBeLessThan(cross);
    // Egress (which matches any output interface) may only come after the cross-tenant drop.
    expect(
      forward.indexOf('iifname "br-tenant-5" ip saddr 10.240.5.0/24 accept comment "t5"'),
    ).toBeGreaterThan(cross);
    expect(forward.some((r) => r.includes('br-tenant-6" ip saddr'))).toBe(false);
    expect(forward.at(-1)).toBe('oifname "br-tenant-*" drop comment "host"');
  });

  it('lets guests reach only metadata and their own gateway on the host, then drops', () => {
    const input = texts('inet', 'input');
    expect(input).toContain(
      'iifname "br-tenant-6" ip saddr 10.240.6.0/24 ip daddr 169.254.169.254 tcp dport 80 accept comment "t6"',
    );
    expect(input).toContain('ip saddr 10.9.0.2 udp dport 4789 accept comment "t5"');
    expect(input.filter((r) => r.includes('dport 53'))).toEqual([]);
    expect(input.at(-1)).toBe('iifname "br-tenant-*" drop comment "host"');
  });

  it('pins each tap to its own MAC and IP and drops every other ethertype', () => {
    expect(texts('bridge', 't5_mvt5_3')).toEqual([
      'ether saddr != 02:6d:76:00:05:03 drop comment "t5"',
      'arp saddr ether != 02:6d:76:00:05:03 drop comment "t5"',
      'arp saddr ip != 10.240.5.3 drop comment "t5"',
      'ip saddr != 10.240.5.3 drop comment "t5"',
      'ether type arp accept comment "t5"',
      'ether type ip accept comment "t5"',
      'drop comment "t5"',
    ]);
    expect(texts('bridge', 'prerouting')).toEqual([
      'iifname "mvt5-3" jump t5_mvt5_3 comment "t5"',
      'iifname "mvx5" ip saddr != 10.240.5.0/24 drop comment "t5"',
      'iifname "mvt*" drop comment "host"',
    ]);
  });

  it('masquerades only egress tenants', () => {
    expect(texts('ip', 'postrouting')).toEqual([
      'ip saddr 10.240.5.0/24 oifname != "br-tenant-*" masquerade comment "t5"',
    ]);
  });
});

describe('renderApplyScript', () => {
  it('replaces each mvm table whole, so re-applying never duplicates a rule', () => {
    const script = renderApplyScript(buildRuleset(state));
    expect(
      script.startsWith(
        'table inet mvm_filter\ndelete table inet mvm_filter\ntable inet mvm_filter {\n',
      ),
    ).toBe(true);
    expect(script).toContain('type filter hook prerouting priority 0; policy accept;');
    expect(script).toBe(renderApplyScript(buildRuleset(state)));
  });
});

describe('renderTenantRemovalScript', () => {
  it("deletes the tenant's rules by handle and its tap chains, nothing else", () => {
    const live: ObservedNft = {
      tables: [{ family: 'bridge', name: 'mvm_bridge' }],
      chains: [
        { family: 'bridge', table: 'mvm_bridge', name: 'prerouting', signature: 'prerouting' },
        { family: 'bridge', table: 'mvm_bridge', name: 't5_mvt5_3', signature: 't5_mvt5_3' },
      ],
      rules: [
        {
          family: 'bridge',
          table: 'mvm_bridge',
          chain: 'prerouting',
          handle: 4,
          tag: 't5',
          signature: 'x',
        },
        {
          family: 'bridge',
          table: 'mvm_bridge',
          chain: 'prerouting',
          handle: 5,
          tag: 'host',
          signature: 'y',
        },
        {
          family: 'bridge',
          table: 'mvm_bridge',
          chain: 't5_mvt5_3',
          handle: 6,
          tag: 't5',
          signature: 'z',
        },
        {
          family: 'bridge',
          table: 'mvm_bridge',
          chain: 'prerouting',
          handle: 7,
          tag: 't6',
          signature: 'w',
        },
      ],
    };
    expect(renderTenantRemovalScript(live, 5)).toBe(
      'delete rule bridge mvm_bridge prerouting handle 4\ndelete chain bridge mvm_bridge t5_mvt5_3\n',
    );
  });
});

describe('ruleSignature', () => {
  it('uses the words nft uses when listing the rule back as JSON', () => {
    const rule = chain('inet', 'forward')?.rules[0];
    expect(rule && ruleSignature(rule)).toBe(
      'iifname br-tenant-5 ; oifname br-tenant-5 ; accept # t5',
    );
  });
});
