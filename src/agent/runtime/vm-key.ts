import { createHash } from 'node:crypto';

/** Keeps `<dataDir>/vms/<key>/qmp.sock` well under the 107-byte unix socket limit. */
const MAX_KEY = 40;

const hash = (text: string, chars: number): string =>
  createHash('sha256').update(text).digest('hex').slice(0, chars);

/**
 * Deterministic, mvm-prefixed name of every host resource of one instance (workdir, cgroup,
 * VMM name). Long names keep a readable head and gain a hash so they stay unique.
 */
export function vmKey(tenantId: string, poolId: string, instanceId: string): string {
  const full = `mvm-${tenantId}-${poolId}-${instanceId}`;
  if (full.length <= MAX_KEY) return full;
  return `${full.slice(0, MAX_KEY - 9).replace(/-+$/, '')}-${hash(full, 8)}`;
}

/** Interface names are limited to 15 characters: `mvm-` plus 11 hex digits of the key. */
export function defaultTapName(key: string): string {
  return `mvm-${hash(key, 11)}`;
}

export const MVM_PREFIX = 'mvm-';
