/**
 * mvm's whole nftables policy as a pure function of the host network state. Rules are
 * modelled as data so that the same model renders the `nft -f` script and the expected
 * signatures `verify` compares with the live ruleset (read back as JSON).
 */
import { BRIDGE_PREFIX, NFT_TABLES, TAP_PREFIX, bridgeName, vxlanName } from './naming.ts';
import type {
  HostNetworkState,
  InstanceNetSpec,
  ObservedNft,
  TenantNetSpec,
} from '../ports/network.ts';

export type NftFamily = (typeof NFT_TABLES)[number]['family'];

/** One `key [!=] value` match; `quoted` values are interface names, written as strings. */
export interface NftMatch {
  key: string;
  value: string;
  negate?: boolean;
  quoted?: boolean;
}

export interface NftRule {
  matches: readonly NftMatch[];
  /** `accept`, `drop`, `masquerade` or `jump <chain>`. */
  verdict: string;
  /** The rule's comment: `t<netId>` for tenant rules (teardown deletes by it), else `host`. */
  tag: string;
}

export interface NftBaseChain {
  type: 'filter' | 'nat';
  hook: string;
  priority: number;
}

export interface NftChain {
  name: string;
  base?: NftBaseChain;
  rules: readonly NftRule[];
}

export interface NftTable {
  family: NftFamily;
  name: string;
  chains: readonly NftChain[];
}

export const VXLAN_PORT = 4789;
const ANY_BRIDGE = `${BRIDGE_PREFIX}*`;
const ANY_TAP = `${TAP_PREFIX}*`;

const iif = (name: string, negate = false): NftMatch => ({
  key: 'iifname',
  value: name,
  quoted: true,
  negate,
});
const oif = (name: string, negate = false): NftMatch => ({
  key: 'oifname',
  value: name,
  quoted: true,
  negate,
});
const m = (key: string, value: string | number, negate = false): NftMatch => ({
  key,
  value: String(value),
  negate,
});
const rule = (tag: string, verdict: string, ...matches: NftMatch[]): NftRule => ({
  matches,
  verdict,
  tag,
});
export const tenantTag = (netId: number): string => `t${netId}`;
const HOST = 'host';

/** Per-tap anti-spoofing chains are named after the tenant so teardown can find them. */
export function tapChainName(instance: InstanceNetSpec): string {
  return `${tenantTag(instance.tenantNetId)}_${instance.tap.replace(/[^a-zA-Z0-9]/g, '_')}`;
}

function forwardRules(state: HostNetworkState): NftRule[] {
  const egress = state.tenants.filter((t) => t.egress);
  return [
    // Same tenant: bridged frames pass here too (br_netfilter: iif == oif == the bridge).
    ...state.tenants.map((t) =>
      rule(tenantTag(t.netId), 'accept', iif(bridgeName(t.netId)), oif(bridgeName(t.netId))),
    ),
    // Cross-tenant routed traffic, new or "established", never passes.
    rule(HOST, 'drop', iif(ANY_BRIDGE), oif(ANY_BRIDGE)),
    // A guest must not inject VXLAN frames into another tenant's VNI through the underlay.
    rule(HOST, 'drop', iif(ANY_BRIDGE), m('udp dport', VXLAN_PORT)),
    ...egress.map((t) =>
      rule(tenantTag(t.netId), 'accept', iif(bridgeName(t.netId)), m('ip saddr', t.subnet)),
    ),
    rule(HOST, 'drop', iif(ANY_BRIDGE)),
    ...egress.map((t) =>
      rule(
        tenantTag(t.netId),
        'accept',
        oif(bridgeName(t.netId)),
        m('ip daddr', t.subnet),
        m('ct state', 'established,related'),
      ),
    ),
    rule(HOST, 'drop', oif(ANY_BRIDGE)),
  ];
}

function vxlanInputRules(state: HostNetworkState): NftRule[] {
  if (state.underlayIp === undefined) return [];
  const peers = state.tenants.flatMap((t) =>
    t.vxlanPeers.map((peer) =>
      rule(tenantTag(t.netId), 'accept', m('ip saddr', peer), m('udp dport', VXLAN_PORT)),
    ),
  );
  return [...peers, rule(HOST, 'drop', m('udp dport', VXLAN_PORT))];
}

/** What a guest may reach on the host itself: metadata, ping and DNS on its own gateway. */
function guestToHostRules(t: TenantNetSpec, state: HostNetworkState): NftRule[] {
  const tag = tenantTag(t.netId);
  const from = [iif(bridgeName(t.netId)), m('ip saddr', t.subnet)];
  const rules: NftRule[] = [];
  const metadata = state.services?.metadata;
  if (metadata)
    rules.push(
      rule(tag, 'accept', ...from, m('ip daddr', metadata.ip), m('tcp dport', metadata.port)),
    );
  rules.push(
    rule(tag, 'accept', ...from, m('ip daddr', t.gateway), m('icmp type', 'echo-request')),
  );
  if (state.services?.dns) {
    rules.push(rule(tag, 'accept', ...from, m('ip daddr', t.gateway), m('udp dport', 53)));
    rules.push(rule(tag, 'accept', ...from, m('ip daddr', t.gateway), m('tcp dport', 53)));
  }
  return rules;
}

function inputRules(state: HostNetworkState): NftRule[] {
  return [
    ...vxlanInputRules(state),
    rule(HOST, 'accept', iif(ANY_BRIDGE), m('ct state', 'established,related')),
    // What the host redirected to itself: the wake trap hands a sleeping instance's held
    // connections to the node's holding listeners (core/wake-trap.ts), its own tenant's only.
    rule(HOST, 'accept', iif(ANY_BRIDGE), m('ct status', 'dnat')),
    ...state.tenants.flatMap((t) => guestToHostRules(t, state)),
    // Everything else a guest sends to the host, including other tenants' gateways.
    rule(HOST, 'drop', iif(ANY_BRIDGE)),
  ];
}

/** A tap may only speak ARP and IPv4, from its own MAC and IP. */
function tapChain(instance: InstanceNetSpec): NftChain {
  const tag = tenantTag(instance.tenantNetId);
  return {
    name: tapChainName(instance),
    rules: [
      rule(tag, 'drop', m('ether saddr', instance.mac.toLowerCase(), true)),
      rule(tag, 'drop', m('arp saddr ether', instance.mac.toLowerCase(), true)),
      rule(tag, 'drop', m('arp saddr ip', instance.ip, true)),
      rule(tag, 'drop', m('ip saddr', instance.ip, true)),
      rule(tag, 'accept', m('ether type', 'arp')),
      rule(tag, 'accept', m('ether type', 'ip')),
      rule(tag, 'drop'),
    ],
  };
}

function bridgeTable(state: HostNetworkState): NftTable {
  const jumps = state.instances.map((i) =>
    rule(tenantTag(i.tenantNetId), `jump ${tapChainName(i)}`, iif(i.tap)),
  );
  const vxlans = state.tenants
    .filter((t) => t.vxlanPeers.length > 0)
    .map((t) =>
      rule(tenantTag(t.netId), 'drop', iif(vxlanName(t.netId)), m('ip saddr', t.subnet, true)),
    );
  const prerouting: NftChain = {
    name: 'prerouting',
    base: { type: 'filter', hook: 'prerouting', priority: 0 },
    // Unknown taps get nothing through: only taps the state owns have a chain.
    rules: [...jumps, ...vxlans, rule(HOST, 'drop', iif(ANY_TAP))],
  };
  return {
    family: 'bridge',
    name: 'mvm_bridge',
    chains: [prerouting, ...state.instances.map(tapChain)],
  };
}

/** The three mvm tables for a host state (none for a node without tenants). */
export function buildRuleset(state: HostNetworkState): NftTable[] {
  // A node without tenants carries no mvm tables at all.
  if (state.tenants.length === 0) return [];
  const masquerade = state.tenants
    .filter((t) => t.egress)
    .map((t) =>
      rule(tenantTag(t.netId), 'masquerade', m('ip saddr', t.subnet), oif(ANY_BRIDGE, true)),
    );
  return [
    {
      family: 'inet',
      name: 'mvm_filter',
      chains: [
        {
          name: 'forward',
          base: { type: 'filter', hook: 'forward', priority: 0 },
          rules: forwardRules(state),
        },
        {
          name: 'input',
          base: { type: 'filter', hook: 'input', priority: 0 },
          rules: inputRules(state),
        },
      ],
    },
    bridgeTable(state),
    {
      family: 'ip',
      name: 'mvm_nat',
      chains: [
        {
          name: 'postrouting',
          base: { type: 'nat', hook: 'postrouting', priority: 100 },
          rules: masquerade,
        },
      ],
    },
  ];
}

function renderMatch(match: NftMatch): string {
  const value = match.quoted ? JSON.stringify(match.value) : match.value;
  return `${match.key} ${match.negate ? '!= ' : ''}${value}`;
}

export function renderRule(r: NftRule): string {
  return [...r.matches.map(renderMatch), r.verdict, `comment ${JSON.stringify(r.tag)}`].join(' ');
}

function renderChain(chain: NftChain): string[] {
  const head = chain.base
    ? [
        `    type ${chain.base.type} hook ${chain.base.hook} priority ${chain.base.priority}; policy accept;`,
      ]
    : [];
  return [
    `  chain ${chain.name} {`,
    ...head,
    ...chain.rules.map((r) => `    ${renderRule(r)}`),
    '  }',
  ];
}

/**
 * One atomic transaction: declaring then deleting each table makes the delete safe when it
 * is absent, and recreating it whole means re-applying never duplicates a rule.
 */
export function renderApplyScript(tables: readonly NftTable[]): string {
  const lines = tables.flatMap((t) => [
    `table ${t.family} ${t.name}`,
    `delete table ${t.family} ${t.name}`,
    `table ${t.family} ${t.name} {`,
    ...t.chains.flatMap(renderChain),
    '}',
  ]);
  return `${lines.join('\n')}\n`;
}

/** Deletes every mvm table (used when a node carries no tenant at all). */
export function renderDeleteAllScript(): string {
  const lines = NFT_TABLES.flatMap((t) => [
    `table ${t.family} ${t.name}`,
    `delete table ${t.family} ${t.name}`,
  ]);
  return `${lines.join('\n')}\n`;
}

/** The signature `verify` compares: normalised matches and verdict, order kept. */
export function ruleSignature(r: NftRule): string {
  const matches = r.matches.map((x) => `${x.key} ${x.negate ? '!= ' : ''}${x.value}`);
  return `${[...matches, r.verdict].join(' ; ')} # ${r.tag}`;
}

export function chainSignature(chain: NftChain): string {
  const b = chain.base;
  return b
    ? `${chain.name} type ${b.type} hook ${b.hook} priority ${b.priority} policy accept`
    : chain.name;
}

/**
 * Deletes one tenant's rules (by their comment tag) and its per-tap chains, by handle, in
 * one transaction; rules go first because they hold the jumps into those chains.
 */
export function renderTenantRemovalScript(live: ObservedNft, netId: number): string {
  const tag = tenantTag(netId);
  const rules = live.rules
    .filter((r) => r.tag === tag && r.handle !== undefined && !r.chain.startsWith(`${tag}_`))
    .map((r) => `delete rule ${r.family} ${r.table} ${r.chain} handle ${r.handle}`);
  const chains = live.chains
    .filter((c) => c.name.startsWith(`${tag}_`))
    .map((c) => `delete chain ${c.family} ${c.table} ${c.name}`);
  return [...rules, ...chains].map((line) => `${line}\n`).join('');
}
