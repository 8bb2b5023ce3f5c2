import { NotFoundError, PermissionDeniedError } from '../core/errors.ts';

/** Who is calling: the admin, or a token scoped to one tenant. */
export type Principal =
  { kind: 'admin'; tokenName: string } | { kind: 'tenant'; tenantId: string; tokenName: string };

export function actorOf(principal: Principal): string {
  return principal.kind === 'admin'
    ? `admin:${principal.tokenName}`
    : `tenant:${principal.tenantId}:${principal.tokenName}`;
}

/**
 * Resolves which tenant a request may touch. A tenant token naming another tenant gets the
 * same 404 as a tenant that does not exist, so scope never leaks existence.
 */
export function scopeTenant(
  principal: Principal,
  requested: string | undefined,
): string | undefined {
  if (principal.kind === 'admin') return requested;
  if (requested !== undefined && requested !== principal.tenantId) {
    throw new NotFoundError('tenant', requested);
  }
  return principal.tenantId;
}

/** Admin-only operations: outside its tenant a tenant token sees 404, inside it 403. */
export function requireAdmin(principal: Principal, tenantId?: string): void {
  if (principal.kind === 'admin') return;
  if (tenantId !== undefined && tenantId !== principal.tenantId) {
    throw new NotFoundError('tenant', tenantId);
  }
  throw new PermissionDeniedError('this operation needs an admin token');
}
