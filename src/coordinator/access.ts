import type { Context, MiddlewareHandler } from 'hono';
import { PermissionDeniedError, UnauthenticatedError, ValidationError } from '../core/errors.ts';
import type { RouteDef, Scope } from '../contract/api.ts';
import { requestHeader } from './request-headers.ts';
import type { AdminPrincipal, NodePrincipal, TenantPrincipal } from './principal.ts';
import type { RedeemedTicket, TicketClaim } from './services/session-ticket-service.ts';
import { tenantNotFound } from './services/tenant-service.ts';

/** Who a route of each scope can be called by, once its check passed. */
export type PrincipalOf<S extends Scope> = {
  public: undefined;
  admin: AdminPrincipal;
  tenant: AdminPrincipal | TenantPrincipal;
  'tenant-list': AdminPrincipal | TenantPrincipal;
  node: AdminPrincipal | NodePrincipal;
  'node-certificate': NodePrincipal;
}[S];

/** What the scope check established about a request, handed to its handler. */
export interface Access<S extends Scope = Scope> {
  principal: PrincipalOf<S>;
  /**
   * `tenant-list` routes: the one tenant whose items the caller sees (a tenant token's own,
   * or the one an admin asked for), undefined for all. `tenant` routes: the path's tenant.
   */
  tenant: string | undefined;
  /** The session ticket the request came with instead of a token (WebSocket routes). */
  ticketId?: string;
}

/** How a request proves who it is. */
export interface Credentials {
  /** A bearer token's principal; throws UnauthenticatedError for a missing or unknown one. */
  token(authorization: string | undefined): Promise<AdminPrincipal | TenantPrincipal>;
  /**
   * The node of the request's client certificate, which must name `nodeId` (else 403), or
   * undefined when the request presented none.
   */
  certificate(c: Context, nodeId: string | undefined): Promise<NodePrincipal | undefined>;
  /**
   * Redeems a session ticket for `claim` (once); throws UnauthenticatedError for any ticket
   * that does not open it. Without it, tickets are refused.
   */
  ticket?(secret: string, claim: TicketClaim): Promise<RedeemedTicket>;
}

export interface AccessEnv {
  Variables: { access: Access };
}

type Rule = (c: Context, credentials: Credentials) => Promise<Access>;

/** The path parameter a scope reads, which its routes must therefore have. */
const scopeParam: Partial<Record<Scope, string>> = {
  tenant: 'tenant',
  node: 'node',
  'node-certificate': 'node',
};

const bearer = (c: Context, credentials: Credentials) =>
  credentials.token(requestHeader(c, 'authorization'));

/** Another tenant's objects answer exactly as missing ones do: scope never leaks existence. */
function confine(principal: AdminPrincipal | TenantPrincipal, tenant: string | undefined): void {
  if (principal.kind === 'tenant' && tenant !== principal.tenantId) {
    throw tenantNotFound(tenant ?? '');
  }
}

const certificateNeeded = (node: string | undefined) =>
  `this route needs the client certificate (mTLS) of node '${node ?? '-'}'; join the host with 'mvm add host'`;

const rules: Record<Scope, Rule> = {
  public: async () => ({ principal: undefined, tenant: undefined }),

  admin: async (c, credentials) => {
    const principal = await bearer(c, credentials);
    if (principal.kind === 'admin') return { principal, tenant: undefined };
    const named = c.req.param('tenant');
    if (named !== undefined) confine(principal, named);
    throw new PermissionDeniedError('this operation needs an admin token');
  },

  tenant: async (c, credentials) => {
    const principal = await bearer(c, credentials);
    const tenant = c.req.param('tenant');
    confine(principal, tenant);
    return { principal, tenant };
  },

  'tenant-list': async (c, credentials) => {
    const principal = await bearer(c, credentials);
    const asked = c.req.query('tenant');
    if (principal.kind === 'admin') return { principal, tenant: asked };
    if (asked !== undefined) confine(principal, asked);
    return { principal, tenant: principal.tenantId };
  },

  // A presented certificate decides alone; without one, the admin token may stand in.
  node: async (c, credentials) => {
    const node = c.req.param('node');
    const certified = await credentials.certificate(c, node);
    if (certified) return { principal: certified, tenant: undefined };
    const authorization = requestHeader(c, 'authorization');
    if (authorization === undefined) {
      throw new UnauthenticatedError(`${certificateNeeded(node)}, or pass an admin token`);
    }
    const principal = await credentials.token(authorization);
    if (principal.kind === 'admin') return { principal, tenant: undefined };
    throw new PermissionDeniedError(`only node '${node ?? '-'}' itself or an admin may do this`);
  },

  'node-certificate': async (c, credentials) => {
    const node = c.req.param('node');
    const certified = await credentials.certificate(c, node);
    if (certified) return { principal: certified, tenant: undefined };
    const authorization = requestHeader(c, 'authorization');
    if (authorization === undefined) throw new UnauthenticatedError(certificateNeeded(node));
    await credentials.token(authorization);
    throw new PermissionDeniedError(`${certificateNeeded(node)}; no API token stands in for it`);
  },
};

/** A scope that reads a path parameter on a route without one is a declaration error. */
function checkDeclaration(name: string, def: RouteDef): void {
  const param = scopeParam[def.scope];
  if (param !== undefined && !def.path.split('/').includes(`:${param}`)) {
    throw new Error(`route ${name} (${def.path}) has scope '${def.scope}' but no :${param}`);
  }
}

/**
 * A WebSocket route that takes tickets, opened with `?ticket=` (a browser cannot send an
 * Authorization header): the ticket stands in for the token that minted it, for this route's
 * session kind on the path's instance only, and is spent by this request.
 */
async function byTicket(
  c: Context,
  credentials: Credentials,
  kind: TicketClaim['kind'],
  secret: string,
): Promise<Access> {
  if (requestHeader(c, 'authorization') !== undefined) {
    throw new ValidationError('pass an Authorization header or ?ticket=, not both');
  }
  if (!credentials.ticket) throw new UnauthenticatedError('this server takes no session tickets');
  const tenant = c.req.param('tenant') ?? '';
  const { principal, ticketId } = await credentials.ticket(secret, {
    kind,
    tenantId: tenant,
    poolId: c.req.param('pool') ?? '',
    instanceId: c.req.param('instance') ?? '',
  });
  confine(principal, tenant);
  return { principal, tenant, ticketId };
}

/**
 * The one permission check, derived from the route's declared scope: who is calling, and
 * whether the scope admits them. It runs before the request's input is read, so a caller
 * without access learns nothing from validation errors either.
 */
export function requireScope(
  name: string,
  def: RouteDef,
  credentials: Credentials,
): MiddlewareHandler<AccessEnv> {
  const check = scopeCheck(name, def, credentials);
  return async (c, next) => {
    c.set('access', await check(c));
    await next();
  };
}

/** requireScope's check alone: the caller's access, or the error refusing them. */
export function scopeCheck(
  name: string,
  def: RouteDef,
  credentials: Credentials,
): (c: Context) => Promise<Access> {
  checkDeclaration(name, def);
  const rule = rules[def.scope];
  const ticketKind = def.websocket?.ticket;
  return (c) => {
    const ticket = ticketKind === undefined ? undefined : c.req.query('ticket');
    return ticketKind !== undefined && ticket !== undefined
      ? byTicket(c, credentials, ticketKind, ticket)
      : rule(c, credentials);
  };
}
