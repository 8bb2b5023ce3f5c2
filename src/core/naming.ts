/**
 * Deterministic, mvm-prefixed names for host resources, so that orphans can be found and
 * reaped after a crash (every name here must fit Linux's 15-character interface limit).
 */
export function bridgeName(netId: number): string {
  return `br-tenant-${netId}`;
}
