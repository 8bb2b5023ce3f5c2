/**
 * Idempotent link steps: each one looks at the observed link first and only changes what
 * differs, so applying the same state twice issues no second `add`.
 */
import { VXLAN_PORT } from '../../core/nft-ruleset.ts';
import { bridgeName, vxlanName } from '../../core/naming.ts';
import type {
  HostNetworkState,
  InstanceNetSpec,
  ObservedFdbEntry,
  ObservedLink,
  TenantNetSpec,
} from '../../ports/network.ts';
import type { NetCommands } from './net-commands.ts';

const ZERO_MAC = '00:00:00:00:00:00';
export type LinkIndex = ReadonlyMap<string, ObservedLink>;

async function ensureUpOn(
  cmd: NetCommands,
  link: ObservedLink | undefined,
  name: string,
  master?: string,
): Promise<void> {
  if (master !== undefined && link?.master !== master)
    await cmd.ip(['link', 'set', 'dev', name, 'master', master]);
  if (!link?.up) await cmd.ip(['link', 'set', 'dev', name, 'up']);
}

/** Recreates a link whose kind is wrong; returns the link still worth trusting, if any. */
async function dropIfWrongKind(
  cmd: NetCommands,
  link: ObservedLink | undefined,
  kind: string,
): Promise<ObservedLink | undefined> {
  if (!link || link.kind === kind) return link;
  await cmd.ip(['link', 'del', 'dev', link.name]);
  return undefined;
}

export async function ensureBridge(
  cmd: NetCommands,
  t: TenantNetSpec,
  state: HostNetworkState,
  links: LinkIndex,
): Promise<void> {
  const name = bridgeName(t.netId);
  const link = await dropIfWrongKind(cmd, links.get(name), 'bridge');
  if (!link) await cmd.ip(['link', 'add', 'name', name, 'type', 'bridge']);
  const wanted = [`${t.gateway}/${t.subnet.split('/')[1] ?? '24'}`];
  const metadata = state.services?.metadata;
  if (metadata) wanted.push(`${metadata.ip}/32`);
  const have = link?.addresses ?? [];
  for (const address of wanted.filter((a) => !have.includes(a))) {
    await cmd.ip(['addr', 'add', address, 'dev', name]);
  }
  for (const address of have.filter((a) => !wanted.includes(a))) {
    await cmd.ip(['addr', 'del', address, 'dev', name]);
  }
  await ensureUpOn(cmd, link, name);
}

function vxlanMatches(link: ObservedLink | undefined, t: TenantNetSpec, local: string): boolean {
  const x = link?.vxlan;
  return (
    x !== undefined && x.id === t.netId && x.local === local && x.port === VXLAN_PORT && !x.learning
  );
}

/**
 * The tenant's VXLAN port: VNI = net id, no learning, static flood entries per peer, and the
 * node's VXLAN MTU when it has one (a wrong MTU is corrected in place).
 */
export async function ensureVxlan(
  cmd: NetCommands,
  t: TenantNetSpec,
  state: Pick<HostNetworkState, 'underlayIp' | 'vxlanMtu'>,
  links: LinkIndex,
  fdb: readonly ObservedFdbEntry[],
): Promise<void> {
  const name = vxlanName(t.netId);
  const local = state.underlayIp ?? '';
  const mtu = state.vxlanMtu === undefined ? [] : ['mtu', String(state.vxlanMtu)];
  let link = links.get(name);
  if (link && !vxlanMatches(link, t, local)) {
    await cmd.ip(['link', 'del', 'dev', name]);
    link = undefined;
  }
  if (!link) {
    const args = [
      'id',
      String(t.netId),
      'dstport',
      String(VXLAN_PORT),
      'local',
      local,
      'nolearning',
    ];
    await cmd.ip(['link', 'add', 'name', name, ...mtu, 'type', 'vxlan', ...args]);
  } else if (state.vxlanMtu !== undefined && link.mtu !== state.vxlanMtu) {
    await cmd.ip(['link', 'set', 'dev', name, ...mtu]);
  }
  const dsts = link
    ? fdb.filter((e) => e.dev === name && e.mac === ZERO_MAC).map((e) => e.dst)
    : [];
  for (const peer of t.vxlanPeers.filter((p) => !dsts.includes(p))) {
    await cmd.bridge(['fdb', 'append', ZERO_MAC, 'dev', name, 'dst', peer]);
  }
  for (const dst of dsts.filter((d) => d !== undefined && !t.vxlanPeers.includes(d))) {
    await cmd.bridge(['fdb', 'del', ZERO_MAC, 'dev', name, 'dst', dst ?? '']);
  }
  await ensureUpOn(cmd, link, name, bridgeName(t.netId));
}

/**
 * A persistent tap the VMM opens by name. An existing link of that name is kept as it is
 * (it may be a VMM's tap, or a veth standing in for a guest in tests) and only attached.
 */
export async function ensureTap(
  cmd: NetCommands,
  i: InstanceNetSpec,
  links: LinkIndex,
): Promise<void> {
  const link = links.get(i.tap);
  if (!link) await cmd.ip(['tuntap', 'add', 'dev', i.tap, 'mode', 'tap']);
  await ensureUpOn(cmd, link, i.tap, bridgeName(i.tenantNetId));
}

export async function deleteLink(cmd: NetCommands, name: string): Promise<void> {
  await cmd.ip(['link', 'del', 'dev', name]);
}

export async function detachLink(cmd: NetCommands, name: string): Promise<void> {
  await cmd.ip(['link', 'set', 'dev', name, 'nomaster']);
}
