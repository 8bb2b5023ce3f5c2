import type { HostNetworkState, ObservedLink } from '../ports/network.ts';
import { bridgeName, netIdOfLinkName, vxlanName } from './naming.ts';

/** What converging on a state does to links it does not own. */
export interface StrayLinks {
  /** mvm-named links (bridges, taps, VXLAN devices) nobody owns, ports before bridges. */
  remove: string[];
  /** Foreign links plugged into one of the state's bridges: let go, never deleted. */
  detach: string[];
}

/**
 * The links the state does not own: the network driver deletes or detaches them on every
 * apply, and `mvm node gc` lists them (dead taps) before it does. Ports come before bridges,
 * so deleting a bridge never races its own ports.
 */
export function strayLinks(state: HostNetworkState, links: readonly ObservedLink[]): StrayLinks {
  const owned = new Set([
    ...state.tenants.map((t) => bridgeName(t.netId)),
    ...state.tenants.filter((t) => t.vxlanPeers.length > 0).map((t) => vxlanName(t.netId)),
    ...state.instances.map((i) => i.tap),
  ]);
  const bridges = new Set(state.tenants.map((t) => bridgeName(t.netId)));
  const ordered = [...links].sort(
    (a, b) => Number(a.kind === 'bridge') - Number(b.kind === 'bridge'),
  );
  const stray: StrayLinks = { remove: [], detach: [] };
  for (const link of ordered) {
    if (owned.has(link.name)) continue;
    if (netIdOfLinkName(link.name) !== undefined) stray.remove.push(link.name);
    else if (link.master !== undefined && bridges.has(link.master)) stray.detach.push(link.name);
  }
  return stray;
}
