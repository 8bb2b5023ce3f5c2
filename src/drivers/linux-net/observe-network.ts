import { VXLAN_PREFIX } from '../../core/naming.ts';
import type { ObservedFdbEntry, ObservedLink, ObservedNetwork } from '../../ports/network.ts';
import type { NetCommands } from './net-commands.ts';
import { parseNftJson } from './parse-nft-json.ts';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const objects = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** IPv4 addresses per interface from `ip -j -4 addr show`. */
export function parseAddresses(json: unknown): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const entry of objects(json)) {
    const name = str(entry['ifname']);
    if (name === undefined) continue;
    const cidrs = objects(entry['addr_info'])
      .filter((a) => a['family'] === 'inet')
      .map((a) => `${str(a['local']) ?? '?'}/${String(a['prefixlen'])}`);
    byName.set(name, cidrs);
  }
  return byName;
}

function vxlanInfo(data: Json): ObservedLink['vxlan'] {
  return {
    id: typeof data['id'] === 'number' ? data['id'] : -1,
    local: str(data['local']),
    port: typeof data['port'] === 'number' ? data['port'] : -1,
    learning: data['learning'] === true,
  };
}

/** Links from `ip -j -d link show`, joined with their IPv4 addresses. */
export function parseLinks(
  json: unknown,
  addresses: ReadonlyMap<string, string[]>,
): ObservedLink[] {
  return objects(json).map((entry) => {
    const name = str(entry['ifname']) ?? '?';
    const info = isObject(entry['linkinfo']) ? entry['linkinfo'] : {};
    const kind = str(info['info_kind']);
    const data = isObject(info['info_data']) ? info['info_data'] : {};
    const flags = Array.isArray(entry['flags']) ? entry['flags'] : [];
    const link: ObservedLink = {
      name,
      kind,
      master: str(entry['master']),
      mac: str(entry['address']) ?? '',
      up: flags.includes('UP'),
      addresses: addresses.get(name) ?? [],
      ...(typeof entry['mtu'] === 'number' ? { mtu: entry['mtu'] } : {}),
    };
    return kind === 'vxlan' ? { ...link, vxlan: vxlanInfo(data) } : link;
  });
}

export function parseFdb(dev: string, json: unknown): ObservedFdbEntry[] {
  return objects(json).map((e) => ({ dev, mac: str(e['mac']) ?? '', dst: str(e['dst']) }));
}

/** Reads the live kernel state: links, addresses, VXLAN flood lists, nft ruleset, forwarding. */
export async function observeNetwork(cmd: NetCommands): Promise<ObservedNetwork> {
  const [linkJson, addrJson, ruleset, forward] = await Promise.all([
    cmd.ipJson(['-d', 'link', 'show']),
    cmd.ipJson(['-4', 'addr', 'show']),
    cmd.nftRuleset(),
    cmd.sysctl('net.ipv4.ip_forward'),
  ]);
  const links = parseLinks(linkJson, parseAddresses(addrJson));
  const vxlans = links.filter((l) => l.kind === 'vxlan' && l.name.startsWith(VXLAN_PREFIX));
  const fdb = await Promise.all(
    vxlans.map(async (l) => parseFdb(l.name, await cmd.bridgeJson(['fdb', 'show', 'dev', l.name]))),
  );
  const nftables =
    isObject(ruleset) && Array.isArray(ruleset['nftables']) ? ruleset['nftables'] : [];
  return { links, fdb: fdb.flat(), nft: parseNftJson(nftables), ipForward: forward === '1' };
}
