/**
 * Deterministic, mvm-prefixed names for host resources, so that orphans can be found and
 * reaped after a crash (every name here must fit Linux's 15-character interface limit).
 */
export function bridgeName(netId: number): string {
  return `br-tenant-${netId}`;
}

/** Every mvm tenant bridge starts with this; anything else carrying it is an orphan. */
export const BRIDGE_PREFIX = 'br-tenant-';
export const TAP_PREFIX = 'mvt';
export const VXLAN_PREFIX = 'mvx';

/** One tap per instance, `mvt<netId>-<hostOctet>`: at most `mvt4095-254`, 11 characters. */
export function tapName(netId: number, hostOctet: number): string {
  return `${TAP_PREFIX}${netId}-${hostOctet}`;
}

/** The tenant's VXLAN device; its VNI is the net id too. */
export function vxlanName(netId: number): string {
  return `${VXLAN_PREFIX}${netId}`;
}

/** nftables tables owned by mvm; nothing outside them is ever touched. */
export const NFT_TABLES = [
  { family: 'inet', name: 'mvm_filter' },
  { family: 'bridge', name: 'mvm_bridge' },
  { family: 'ip', name: 'mvm_nat' },
] as const;

/** Which tenant an mvm-named link belongs to, or undefined for links mvm does not own. */
export function netIdOfLinkName(name: string): number | undefined {
  const match = /^(?:br-tenant-|mvx)(\d{1,4})$|^mvt(\d{1,4})-\d{1,3}$/.exec(name);
  const digits = match?.[1] ?? match?.[2];
  return digits === undefined ? undefined : Number(digits);
}
