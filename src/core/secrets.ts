import { MvmError } from './errors.ts';

/**
 * Rules for tenant secrets, shared by the API contract and the coordinator. A secret is a
 * name and a text value, set for a whole tenant or for one of its pools; an instance gets its
 * pool's secrets, where a pool's value of a name overrides the tenant's.
 */

/**
 * An environment-variable-like name: it becomes the file `/run/secrets/<name>` in the guest.
 * `__proto__` is refused: JSON maps hold names as object keys, where it would vanish.
 */
export const SECRET_NAME_PATTERN = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const SECRET_NAME_RULE =
  "a secret name: 1-64 of A-Z, a-z, 0-9 and '_', not starting with a digit (nor __proto__)";

export const secretLimits = {
  /** One value, in UTF-8 bytes. */
  valueBytes: 64 * 1024,
  /** Every value of a tenant (both scopes), in UTF-8 bytes. */
  tenantBytes: 1024 * 1024,
  /** Names of a tenant (both scopes). */
  tenantCount: 256,
  /** Names one request may set or unset. */
  perRequest: 64,
} as const;

/** A stored secret as the rules see it: where it applies and how big it is. */
export interface SecretSlot {
  name: string;
  /** null: the whole tenant. */
  poolId: string | null;
  bytes: number;
}

export function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/**
 * The secrets an instance of `poolId` gets: the tenant's, with the pool's own in place of
 * those of the same name. Sorted by name.
 */
export function effectiveSecrets<T extends { name: string; poolId: string | null }>(
  entries: readonly T[],
  poolId: string,
): T[] {
  const byName = new Map<string, T>();
  for (const entry of entries) if (entry.poolId === null) byName.set(entry.name, entry);
  for (const entry of entries) if (entry.poolId === poolId) byName.set(entry.name, entry);
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What a tenant would hold after a change: refused when over the count or byte budget. */
export function checkSecretBudget(tenantId: string, after: readonly SecretSlot[]): void {
  const bytes = after.reduce((sum, slot) => sum + slot.bytes, 0);
  const problems: string[] = [];
  if (after.length > secretLimits.tenantCount) {
    problems.push(`${after.length} secrets, over the limit of ${secretLimits.tenantCount}`);
  }
  if (bytes > secretLimits.tenantBytes) {
    problems.push(`${bytes} bytes of secret values, over the limit of ${secretLimits.tenantBytes}`);
  }
  if (problems.length === 0) return;
  throw new MvmError(
    'quota_exceeded',
    `tenant '${tenantId}' would hold ${problems.join(' and ')}; unset secrets it no longer needs first`,
    { tenantId, problems },
  );
}
