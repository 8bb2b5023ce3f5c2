/**
 * The tenant network invariants, as a pure comparison of the desired host state with what
 * the kernel really holds. `mvm net verify` and the driver's tests both rely on it, so a
 * rule that is missing, altered, duplicated or reordered, a detached or foreign bridge port,
 * and every mvm-named leftover are all reported, each with what to do next.
 */
import { VXLAN_PORT, buildRuleset, chainSignature, ruleSignature } from './nft-ruleset.ts';
import type { NftChain, NftTable } from './nft-ruleset.ts';
import { bridgeName, netIdOfLinkName, vxlanName } from './naming.ts';
import { isAddressInCidr } from './subnets.ts';
import type {
  HostNetworkState,
  ObservedLink,
  ObservedNetwork,
  ObservedNft,
  TenantNetSpec,
} from '../ports/network.ts';

/** Stable codes for scripts; orphan_link and nft_orphan_table are leftovers, not faults. */
export const violationCodes = [
  ...['state_invalid', 'link_missing', 'link_down', 'link_wrong_kind', 'ip_forward_off'],
  ...['address_missing', 'address_unexpected', 'port_detached', 'foreign_port'],
  ...['vxlan_misconfigured', 'fdb_missing', 'fdb_unexpected', 'orphan_link'],
  ...['nft_table_missing', 'nft_orphan_table', 'nft_chain_missing', 'nft_chain_mismatch'],
  ...['nft_chain_unexpected', 'nft_rule_missing', 'nft_rule_unexpected'],
  ...['nft_rule_duplicate', 'nft_rule_order'],
] as const;
export type ViolationCode = (typeof violationCodes)[number];

export interface Violation {
  code: ViolationCode;
  /** The link, address, table/chain or rule concerned. */
  subject: string;
  message: string;
}

const ORPHAN_CODES: ReadonlySet<ViolationCode> = new Set(['orphan_link', 'nft_orphan_table']);
export const isOrphan = (v: Violation): boolean => ORPHAN_CODES.has(v.code);

const REAPPLY = 're-apply the host network state (the agent does this on start) to repair it';
const v = (code: ViolationCode, subject: string, message: string): Violation => ({
  code,
  subject,
  message,
});
const prefixOf = (cidr: string): string => cidr.split('/')[1] ?? '24';
const ZERO_MAC = '00:00:00:00:00:00';

/** Problems of the desired state itself; the kernel cannot be right if the state is not. */
export function stateProblems(state: HostNetworkState): Violation[] {
  const problems: Violation[] = [];
  const tenants = new Map(state.tenants.map((t) => [t.netId, t]));
  const seen = new Set<string>();
  for (const i of state.instances) {
    const tenant = tenants.get(i.tenantNetId);
    if (!tenant)
      problems.push(
        v(
          'state_invalid',
          i.tap,
          `tap ${i.tap} names net id ${i.tenantNetId}, which no tenant of this node has`,
        ),
      );
    else if (!isAddressInCidr(tenant.subnet, i.ip))
      problems.push(
        v(
          'state_invalid',
          i.tap,
          `tap ${i.tap} has ${i.ip}, outside its tenant subnet ${tenant.subnet}`,
        ),
      );
    if (i.tap.length > 15)
      problems.push(
        v('state_invalid', i.tap, `tap name ${i.tap} is longer than Linux's 15 characters`),
      );
    if (seen.has(i.ip))
      problems.push(v('state_invalid', i.ip, `address ${i.ip} is given to more than one tap`));
    seen.add(i.ip);
  }
  const hasPeers = state.tenants.some((t) => t.vxlanPeers.length > 0);
  if (hasPeers && state.underlayIp === undefined) {
    problems.push(
      v(
        'state_invalid',
        'underlayIp',
        'tenants have VXLAN peers but the node has no underlay address',
      ),
    );
  }
  return problems;
}

function linkChecks(
  link: ObservedLink | undefined,
  name: string,
  kind: string | undefined,
  master?: string,
): Violation[] {
  if (!link) return [v('link_missing', name, `${name} does not exist; ${REAPPLY}`)];
  const out: Violation[] = [];
  if (kind !== undefined && link.kind !== kind)
    out.push(
      v(
        'link_wrong_kind',
        name,
        `${name} is a ${link.kind ?? 'plain device'}, not a ${kind}; delete it and ${REAPPLY}`,
      ),
    );
  if (!link.up) out.push(v('link_down', name, `${name} is down; ${REAPPLY}`));
  if (master !== undefined && link.master !== master) {
    const where = link.master === undefined ? 'no bridge' : `bridge ${link.master}`;
    out.push(
      v('port_detached', name, `${name} is attached to ${where}, not ${master}; ${REAPPLY}`),
    );
  }
  return out;
}

function bridgeChecks(
  t: TenantNetSpec,
  state: HostNetworkState,
  links: ReadonlyMap<string, ObservedLink>,
): Violation[] {
  const name = bridgeName(t.netId);
  const link = links.get(name);
  const out = linkChecks(link, name, 'bridge');
  if (!link) return out;
  const wanted = [`${t.gateway}/${prefixOf(t.subnet)}`];
  const metadata = state.services?.metadata;
  if (metadata) wanted.push(`${metadata.ip}/32`);
  for (const address of wanted) {
    if (!link.addresses.includes(address))
      out.push(v('address_missing', name, `${name} lacks ${address}; ${REAPPLY}`));
  }
  for (const address of link.addresses) {
    if (!wanted.includes(address))
      out.push(
        v(
          'address_unexpected',
          name,
          `${name} carries ${address}, which mvm did not put there; remove it`,
        ),
      );
  }
  return out;
}

function vxlanChecks(
  t: TenantNetSpec,
  state: HostNetworkState,
  observed: ObservedNetwork,
  links: ReadonlyMap<string, ObservedLink>,
): Violation[] {
  if (t.vxlanPeers.length === 0) return [];
  const name = vxlanName(t.netId);
  const link = links.get(name);
  const out = linkChecks(link, name, 'vxlan', bridgeName(t.netId));
  const x = link?.vxlan;
  if (
    link &&
    (!x || x.id !== t.netId || x.learning || x.port !== VXLAN_PORT || x.local !== state.underlayIp)
  ) {
    const want = `vni ${t.netId}, port ${VXLAN_PORT}, local ${state.underlayIp ?? '?'}, nolearning`;
    out.push(v('vxlan_misconfigured', name, `${name} is not ${want}; delete it and ${REAPPLY}`));
  }
  const mtu = state.vxlanMtu;
  if (link?.mtu !== undefined && mtu !== undefined && link.mtu !== mtu) {
    out.push(v('vxlan_misconfigured', name, `${name} has MTU ${link.mtu}, not ${mtu}; ${REAPPLY}`));
  }
  const dsts = observed.fdb
    .filter((e) => e.dev === name && e.mac === ZERO_MAC)
    .map((e) => e.dst ?? '');
  for (const peer of t.vxlanPeers) {
    if (!dsts.includes(peer))
      out.push(v('fdb_missing', name, `${name} does not flood to peer ${peer}; ${REAPPLY}`));
  }
  for (const dst of dsts) {
    if (!t.vxlanPeers.includes(dst))
      out.push(
        v(
          'fdb_unexpected',
          name,
          `${name} floods to ${dst}, which is not a peer of tenant net ${t.netId}; remove it`,
        ),
      );
  }
  return out;
}

function linkViolations(state: HostNetworkState, observed: ObservedNetwork): Violation[] {
  const links = new Map(observed.links.map((l) => [l.name, l]));
  const out: Violation[] = [];
  const owned = new Set<string>();
  for (const t of state.tenants) {
    owned.add(bridgeName(t.netId));
    if (t.vxlanPeers.length > 0) owned.add(vxlanName(t.netId));
    out.push(...bridgeChecks(t, state, links), ...vxlanChecks(t, state, observed, links));
  }
  for (const i of state.instances) {
    owned.add(i.tap);
    out.push(...linkChecks(links.get(i.tap), i.tap, undefined, bridgeName(i.tenantNetId)));
  }
  const bridges = new Set(state.tenants.map((t) => bridgeName(t.netId)));
  for (const link of observed.links) {
    if (link.master !== undefined && bridges.has(link.master) && !owned.has(link.name)) {
      out.push(
        v(
          'foreign_port',
          link.name,
          `${link.name} is a port of ${link.master} but belongs to no instance of it; detach it`,
        ),
      );
    } else if (!owned.has(link.name) && netIdOfLinkName(link.name) !== undefined) {
      out.push(
        v(
          'orphan_link',
          link.name,
          `${link.name} is mvm-named but no tenant or instance owns it; ${REAPPLY} or delete it`,
        ),
      );
    }
  }
  return out;
}

function ruleViolations(where: string, chain: NftChain, got: readonly string[]): Violation[] {
  const expected = chain.rules.map(ruleSignature);
  const count = (list: readonly string[], sig: string): number =>
    list.filter((s) => s === sig).length;
  const out: Violation[] = [];
  for (const sig of new Set([...expected, ...got])) {
    const want = count(expected, sig);
    const have = count(got, sig);
    if (have < want)
      out.push(
        v('nft_rule_missing', `${where}: ${sig}`, `rule missing from ${where}: ${sig}; ${REAPPLY}`),
      );
    else if (want === 0)
      out.push(
        v(
          'nft_rule_unexpected',
          `${where}: ${sig}`,
          `${where} holds a rule mvm did not write: ${sig}; ${REAPPLY}`,
        ),
      );
    else if (have > want)
      out.push(
        v(
          'nft_rule_duplicate',
          `${where}: ${sig}`,
          `${where} holds ${have} copies of: ${sig}; ${REAPPLY}`,
        ),
      );
  }
  if (out.length === 0 && expected.join('\n') !== got.join('\n')) {
    out.push(
      v('nft_rule_order', where, `the rules of ${where} are in the wrong order; ${REAPPLY}`),
    );
  }
  return out;
}

function tableViolations(table: NftTable, live: ObservedNft): Violation[] {
  const id = `${table.family} ${table.name}`;
  const inTable = <T extends { family: string; table: string }>(x: T): boolean =>
    x.family === table.family && x.table === table.name;
  if (!live.tables.some((t) => t.family === table.family && t.name === table.name)) {
    return [v('nft_table_missing', id, `nftables table ${id} is missing; ${REAPPLY}`)];
  }
  const chains = live.chains.filter(inTable);
  const out: Violation[] = [];
  for (const chain of table.chains) {
    const where = `${id} ${chain.name}`;
    const liveChain = chains.find((c) => c.name === chain.name);
    if (!liveChain) {
      out.push(v('nft_chain_missing', where, `chain ${where} is missing; ${REAPPLY}`));
      continue;
    }
    if (liveChain.signature !== chainSignature(chain)) {
      out.push(
        v(
          'nft_chain_mismatch',
          where,
          `chain ${where} is '${liveChain.signature}', not '${chainSignature(chain)}'; ${REAPPLY}`,
        ),
      );
    }
    const got = live.rules
      .filter((r) => inTable(r) && r.chain === chain.name)
      .map((r) => r.signature);
    out.push(...ruleViolations(where, chain, got));
  }
  for (const c of chains) {
    if (!table.chains.some((x) => x.name === c.name))
      out.push(
        v(
          'nft_chain_unexpected',
          `${id} ${c.name}`,
          `chain ${id} ${c.name} is not mvm's; ${REAPPLY}`,
        ),
      );
  }
  return out;
}

function nftViolations(state: HostNetworkState, observed: ObservedNetwork): Violation[] {
  const live = observed.nft;
  const tables = buildRuleset(state);
  const out = tables.flatMap((t) => tableViolations(t, live));
  for (const t of live.tables) {
    if (!tables.some((x) => x.family === t.family && x.name === t.name)) {
      out.push(
        v(
          'nft_orphan_table',
          `${t.family} ${t.name}`,
          `nftables table ${t.family} ${t.name} is mvm-named but not mvm's; delete it`,
        ),
      );
    }
  }
  return out;
}

/** Every violated invariant and every orphan; an empty list means the node is as desired. */
export function verifyNetwork(state: HostNetworkState, observed: ObservedNetwork): Violation[] {
  const out = [
    ...stateProblems(state),
    ...linkViolations(state, observed),
    ...nftViolations(state, observed),
  ];
  if (state.tenants.some((t) => t.egress) && !observed.ipForward) {
    out.push(
      v(
        'ip_forward_off',
        'net.ipv4.ip_forward',
        `IPv4 forwarding is off, so egress tenants cannot reach out; ${REAPPLY}`,
      ),
    );
  }
  return out;
}
