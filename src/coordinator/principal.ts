import { NotFoundError, PermissionDeniedError } from '../core/errors.ts';

/**
 * Who is calling: the admin, a token scoped to one tenant, or a node proven by its client
 * certificate (mTLS), which may only act on its own node-scoped routes.
 */
export type Principal =
  | { kind: 'admin'; tokenName: string }
  | { kind: 'tenant'; tenantId: string; tokenName: string }
  | { kind: 'node'; nodeId: string; serial: string };

export function actorOf(principal: Principal): string {
  if (principal.kind === 'node') return `node:${principal.nodeId}`;
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
  if (principal.kind === 'node')
    throw new PermissionDeniedError('a node certificate cannot act on tenants');
  if (requested !== undefined && requested !== principal.tenantId) {
    throw new NotFoundError('tenant', requested);
  }
  return principal.tenantId;
}

/** Admin-only operations: outside its tenant a tenant token sees 404, inside it 403. */
export function requireAdmin(principal: Principal, tenantId?: string): void {
  if (principal.kind === 'admin') return;
  if (tenantId !== undefined && principal.kind === 'tenant' && tenantId !== principal.tenantId) {
    throw new NotFoundError('tenant', tenantId);
  }
  throw new PermissionDeniedError('this operation needs an admin token');
}

/** Node-scoped routes: the admin, or the node named in the path with its own certificate. */
export function requireNodeOrAdmin(principal: Principal, nodeId: string): void {
  if (principal.kind === 'admin') return;
  if (principal.kind === 'node' && principal.nodeId === nodeId) return;
  throw new PermissionDeniedError(`only node '${nodeId}' itself or an admin may do this`);
}
