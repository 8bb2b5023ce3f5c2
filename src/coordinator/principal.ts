/** The admin: every route but those only a node's own certificate may call. */
export interface AdminPrincipal {
  kind: 'admin';
  tokenName: string;
  /** The token's id, when it is a stored token (audit events name it). */
  tokenId?: string;
}

/** A token scoped to one tenant: that tenant's objects and lists only. */
export interface TenantPrincipal {
  kind: 'tenant';
  tenantId: string;
  tokenName: string;
  tokenId?: string;
}

/** A node proven by its client certificate (mTLS): its own node-scoped routes only. */
export interface NodePrincipal {
  kind: 'node';
  nodeId: string;
  serial: string;
}

/** Who is calling. What each may do is the route table's scope (contract/api.ts, access.ts). */
export type Principal = AdminPrincipal | TenantPrincipal | NodePrincipal;

export function actorOf(principal: Principal): string {
  if (principal.kind === 'node') return `node:${principal.nodeId}`;
  return principal.kind === 'admin'
    ? `admin:${principal.tokenName}`
    : `tenant:${principal.tenantId}:${principal.tokenName}`;
}
