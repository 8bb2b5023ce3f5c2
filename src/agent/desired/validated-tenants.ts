import type { DesiredTenant } from '../../contract/desired.ts';

/**
 * The tenants of the last node document an agent validated, as received (parsed JSON) and as
 * validated. A new document's tenant equal to a kept one, member by member, is that one's
 * validated value again: validation is a function of the tenant's JSON alone, so skipping it
 * refuses nothing the schema would accept and accepts nothing it would refuse. A change on a
 * node (one instance toggled) changes one tenant of its hundreds, and the schema's check of the
 * rest (zod, ~2,000 objects for a 1,000-instance document) was most of the agent's time on
 * each document (docs/scale.md, "What the agent does with a document").
 *
 * Documents are read-only: an unchanged tenant of the new document is the previous one's
 * object.
 */
export class ValidatedTenants {
  private kept = new Map<string, { raw: unknown; tenant: DesiredTenant }>();

  /** How many tenants the last document reused, and how many it validated (for tests). */
  last = { reused: 0, validated: 0 };

  /** The validated tenant kept for exactly this JSON, if any. */
  reuse(raw: unknown): DesiredTenant | undefined {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
    const id = (raw as { id?: unknown }).id;
    if (typeof id !== 'string') return undefined;
    const kept = this.kept.get(id);
    return kept !== undefined && sameJson(kept.raw, raw) ? kept.tenant : undefined;
  }

  /** Keeps a validated document's tenants (in place of the previous document's). */
  keep(raws: readonly unknown[], tenants: readonly DesiredTenant[], reused: number): void {
    const kept = new Map<string, { raw: unknown; tenant: DesiredTenant }>();
    tenants.forEach((tenant, i) => kept.set(tenant.id, { raw: raws[i], tenant }));
    this.kept = kept;
    this.last = { reused, validated: tenants.length - reused };
  }
}

/**
 * Equality of two values parsed from JSON: the same members (in any order, as an object's
 * members mean the same in any order), the same items in the same order, the same scalars
 * (-0 and 0 differ: a value is reused only when it is exactly the one validated). For JSON
 * values node:util's `isDeepStrictEqual` answers the same, at about four times the time (500
 * tenants: 1.5 against 0.35 ms), on every document the agent takes.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return typeof a !== 'number' || Object.is(a, b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i += 1) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const key of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, key) || !sameJson(ao[key], bo[key])) return false;
  }
  return true;
}
