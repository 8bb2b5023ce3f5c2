import { describe, expect, it } from 'vitest';
import { stateProblems, verifyNetwork } from '../../src/core/net-invariants.ts';
import { buildRuleset, chainSignature, ruleSignature } from '../../src/core/nft-ruleset.ts';
import type {
  HostNetworkState,
  ObservedLink,
  ObservedNetwork,
  ObservedNft,
} from '../../src/ports/network.ts';

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
  instances: [
    { tenantNetId: 5, tap: 'mvt5-3', ip: '10.240.5.3', mac: '02:6d:76:00:05:03' },
    { tenantNetId: 6, tap: 'mvt6-3', ip: '10.240.6.3', mac: '02:6d:76:00:06:03' },
  ],
  underlayIp: '10.9.0.1',
};

/** What the kernel reports once the driver has applied `state`. */
function nftFor(s: HostNetworkState): ObservedNft {
  const tables = buildRuleset(s);
  return {
    tables: tables.map((t) => ({ family: t.family, name: t.name })),
    chains: tables.flatMap((t) =>
      t.chains.map((c) => ({
        family: t.family,
        table: t.name,
        name: c.name,
        signature: chainSignature(c),
      })),
    ),
    rules: tables.flatMap((t) =>
      t.chains.flatMap((c) =>
        c.rules.map((r, i) => ({
          family: t.family,
          table: t.name,
          chain: c.name,
          handle: i + 1,
          tag: r.tag,
          signature: ruleSignature(r),
        })),
      ),
    ),
  };
}

const link = (name: string, extra: Partial<ObservedLink> = {}): ObservedLink => ({
  name,
  kind: undefined,
  master: undefined,
  mac: '02:00:00:00:00:01',
  up: true,
  addresses: [],
  ...extra,
});

function converged(): ObservedNetwork {
  return {
    links: [
      link('lo'),
      link('br-tenant-5', { kind: 'bridge', addresses: ['10.240.5.1/24'] }),
      link('br-tenant-6', { kind: 'bridge', addresses: ['10.240.6.1/24'] }),
      link('mvx5', {
        kind: 'vxlan',
        master: 'br-tenant-5',
        vxlan: { id: 5, local: '10.9.0.1', port: 4789, learning: false },
      }),
      link('mvt5-3', { kind: 'tun', master: 'br-tenant-5' }),
      link('mvt6-3', { kind: 'tun', master: 'br-tenant-6' }),
    ],
    fdb: [{ dev: 'mvx5', mac: '00:00:00:00:00:00', dst: '10.9.0.2' }],
    nft: nftFor(state),
    ipForward: true,
  };
}

const codes = (observed: ObservedNetwork): string[] =>
  verifyNetwork(state, observed).map((v) => `${v.code} ${v.subject}`);

const withLink = (
  o: ObservedNetwork,
  name: string,
  patch: Partial<ObservedLink>,
): ObservedNetwork => ({
  ...o,
  links: o.links.map((l) => (l.name === name ? { ...l, ...patch } : l)),
});

describe('verifyNetwork: links', () => {
  it('is clean on a converged node', () => {
    expect(codes(converged())).toEqual([]);
  });

  it('names a detached or moved tap, a foreign port and an orphan', () => {
    const o = converged();
    const tampered = {
      ...withLink(o, 'mvt5-3', { master: 'br-tenant-6' }),
      links: [
        ...withLink(o, 'mvt5-3', { master: 'br-tenant-6' }).links,
        link('eth9', { master: 'br-tenant-5' }),
        link('mvt9-4', { kind: 'tun' }),
        link('br-tenant-9', { kind: 'bridge' }),
      ],
    };
    expect(codes(tampered)).toEqual([
      'port_detached mvt5-3',
      'foreign_port eth9',
      'orphan_link mvt9-4',
      'orphan_link br-tenant-9',
    ]);
  });

  it('names missing, extra and down addresses and devices', () => {
    let o = withLink(converged(), 'br-tenant-6', { addresses: ['10.240.5.1/24'], up: false });
    o = { ...o, links: o.links.filter((l) => l.name !== 'mvt6-3') };
    expect(codes(o)).toEqual([
      'link_down br-tenant-6',
      'address_missing br-tenant-6',
      'address_unexpected br-tenant-6',
      'link_missing mvt6-3',
    ]);
  });

  it('names a VXLAN device with the wrong VNI and a flood entry to a stranger', () => {
    const o = withLink(converged(), 'mvx5', {
      vxlan: { id: 6, local: '10.9.0.1', port: 4789, learning: false },
    });
    const fdb = [...o.fdb, { dev: 'mvx5', mac: '00:00:00:00:00:00', dst: '10.9.0.77' }];
    expect(codes({ ...o, fdb })).toEqual(['vxlan_misconfigured mvx5', 'fdb_unexpected mvx5']);
  });

  it("names a VXLAN device whose MTU is not the node's VXLAN MTU", () => {
    const wanted = { ...state, vxlanMtu: 1450 };
    const check = (mtu: number) =>
      verifyNetwork(wanted, withLink(converged(), 'mvx5', { mtu })).map(
        (v) => `${v.code} ${v.subject}`,
      );
    expect(check(1500)).toEqual(['vxlan_misconfigured mvx5']);
    expect(check(1450)).toEqual([]);
  });

  it('requires IPv4 forwarding when a tenant has egress', () => {
    expect(codes({ ...converged(), ipForward: false })).toEqual([
      'ip_forward_off net.ipv4.ip_forward',
    ]);
  });
});

describe('verifyNetwork: nftables', () => {
  const CROSS = 'inet mvm_filter forward: iifname br-tenant-* ; oifname br-tenant-* ; drop # host';
  const withRules = (f: (rules: ObservedNft['rules']) => ObservedNft['rules']): ObservedNetwork => {
    const o = converged();
    return { ...o, nft: { ...o.nft, rules: f(o.nft.rules) } };
  };
  const isCross = (r: ObservedNft['rules'][number]) =>
    r.chain === 'forward' && `inet mvm_filter forward: ${r.signature}` === CROSS;

  it('names a deleted rule', () => {
    expect(codes(withRules((rules) => rules.filter((r) => !isCross(r))))).toEqual([
      `nft_rule_missing ${CROSS}`,
    ]);
  });

  it('names a rule whose verdict was changed in place', () => {
    const changed = withRules((rules) =>
      rules.map((r) =>
        isCross(r) ? { ...r, signature: r.signature.replace('drop', 'accept') } : r,
      ),
    );
    expect(codes(changed)).toEqual([
      `nft_rule_missing ${CROSS}`,
      `nft_rule_unexpected ${CROSS.replace('drop', 'accept')}`,
    ]);
  });

  it('names a duplicated rule and a reordered chain', () => {
    expect(codes(withRules((rules) => [...rules, ...rules.filter(isCross)]))).toEqual([
      `nft_rule_duplicate ${CROSS}`,
    ]);
    expect(codes(withRules((rules) => [...rules].reverse()))).toEqual([
      'nft_rule_order inet mvm_filter forward',
      'nft_rule_order inet mvm_filter input',
      'nft_rule_order bridge mvm_bridge prerouting',
      'nft_rule_order bridge mvm_bridge t5_mvt5_3',
      'nft_rule_order bridge mvm_bridge t6_mvt6_3',
    ]);
  });

  it('names a missing table, a changed chain policy and an mvm-named stranger table', () => {
    const o = converged();
    const nft: ObservedNft = {
      tables: [
        ...o.nft.tables.filter((t) => t.name !== 'mvm_nat'),
        { family: 'ip', name: 'mvm_old' },
      ],
      chains: o.nft.chains.map((c) =>
        c.name === 'input' ? { ...c, signature: c.signature.replace('accept', 'drop') } : c,
      ),
      rules: o.nft.rules,
    };
    expect(codes({ ...o, nft })).toEqual([
      'nft_chain_mismatch inet mvm_filter input',
      'nft_table_missing ip mvm_nat',
      'nft_orphan_table ip mvm_old',
    ]);
  });
});

describe('stateProblems', () => {
  it('refuses taps outside their subnet, unknown tenants, reused IPs and peers without an underlay', () => {
    const bad: HostNetworkState = {
      tenants: [
        {
          netId: 5,
          subnet: '10.240.5.0/24',
          gateway: '10.240.5.1',
          egress: false,
          vxlanPeers: ['10.9.0.2'],
        },
      ],
      instances: [
        { tenantNetId: 5, tap: 'mvt5-3', ip: '10.240.6.3', mac: '02:6d:76:00:05:03' },
        { tenantNetId: 8, tap: 'mvt8-3', ip: '10.240.6.3', mac: '02:6d:76:00:08:03' },
      ],
    };
    expect(stateProblems(bad).map((p) => p.subject)).toEqual([
      'mvt5-3',
      'mvt8-3',
      '10.240.6.3',
      'underlayIp',
    ]);
  });
});
