import { randomBytes, randomUUID } from 'node:crypto';
import { UnauthenticatedError } from '../../core/errors.ts';
import { fillPath, routes } from '../../contract/api.ts';
import {
  SESSION_TICKET_PATTERN,
  SESSION_TICKET_TTL_MS,
  type SessionTicketView,
} from '../../contract/session-tickets.ts';
import type {
  InstanceKey,
  SessionTicketKind,
  SessionTicketRecord,
  Store,
} from '../../ports/store.ts';
import type { AdminPrincipal, TenantPrincipal } from '../principal.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadInstance } from './instance-service.ts';
import { hashToken } from './token-service.ts';

/** What a ticket is presented for: a session of this kind on this instance. */
export interface TicketClaim extends InstanceKey {
  kind: SessionTicketKind;
}

/** Who a redeemed ticket acts for: the token that minted it, and the ticket's id. */
export interface RedeemedTicket {
  principal: AdminPrincipal | TenantPrincipal;
  ticketId: string;
}

/** Used and expired tickets are kept this long (their refusals name why), then purged. */
const KEEP_EXPIRED_MS = 3_600_000;

const routeOf = { exec: routes.execInstance.path, logs: routes.instanceLogs.path };

function newTicketSecret(): string {
  return `mvmt_${randomBytes(32).toString('base64url')}`;
}

const refused = (why: string) =>
  new UnauthenticatedError(`session ticket refused: ${why}; mint a new one (they last 30 s)`);

/**
 * Session tickets (docs/exec.md, "Tickets"): a token holder mints one for a session kind on an
 * instance; the browser opens that route's WebSocket with it. Random 256 bits, stored hashed,
 * single use (a compare-and-set in the store), bound to the instance, the kind and the minting
 * token's scope; a redeemed ticket acts as that token, which must still be valid.
 */
export class SessionTicketService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly ttlMs = SESSION_TICKET_TTL_MS,
  ) {}

  async issue(
    principal: AdminPrincipal | TenantPrincipal,
    key: InstanceKey,
    kind: SessionTicketKind,
  ): Promise<SessionTicketView> {
    await loadInstance(this.deps.store, key);
    const now = this.deps.clock.now();
    const secret = newTicketSecret();
    const record: SessionTicketRecord = {
      id: randomUUID(),
      hash: hashToken(secret),
      ...key,
      kind,
      scopeTenantId: principal.kind === 'tenant' ? principal.tenantId : null,
      tokenId: principal.tokenId ?? null,
      tokenName: principal.tokenName,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.ttlMs).toISOString(),
      usedAt: null,
    };
    await this.deps.store.transaction(async (repos) => {
      await repos.sessionTickets.purgeExpired(
        new Date(now.getTime() - KEEP_EXPIRED_MS).toISOString(),
      );
      await repos.sessionTickets.insert(record);
      await audit(repos, this.deps, principal, {
        tenantId: key.tenantId,
        action: 'instance.ticket',
        target: `${key.tenantId}/${key.poolId}/${key.instanceId}`,
        detail: {
          session: kind,
          ticketId: record.id,
          expiresAt: record.expiresAt,
          ...(record.tokenId !== null ? { tokenId: record.tokenId } : {}),
        },
      });
    });
    const path = `/v1${fillPath(routeOf[kind], { tenant: key.tenantId, pool: key.poolId, instance: key.instanceId })}`;
    return { ticket: secret, session: kind, expiresAt: record.expiresAt, path };
  }

  /**
   * The ticket's principal, once: a ticket that is malformed, unknown, for another instance
   * or kind, used, expired, or minted by a token since revoked or expired is refused (401),
   * and a refused ticket for another session is not spent.
   */
  async redeem(secret: string, claim: TicketClaim): Promise<RedeemedTicket> {
    if (!SESSION_TICKET_PATTERN.test(secret)) throw refused('not a ticket');
    const store = this.deps.store;
    const ticket = await store.sessionTickets.findByHash(hashToken(secret));
    if (!ticket) throw refused('unknown ticket');
    if (!binds(ticket, claim)) throw refused('it was minted for another session');
    const now = this.deps.clock.now();
    const at = now.toISOString();
    if (ticket.usedAt !== null) throw refused('already used');
    if (ticket.expiresAt <= at) throw refused(`expired at ${ticket.expiresAt}`);
    await checkToken(store, ticket, now);
    if (!(await store.sessionTickets.consume(ticket.id, at))) throw refused('already used');
    return { principal: principalOf(ticket), ticketId: ticket.id };
  }
}

function binds(ticket: SessionTicketRecord, claim: TicketClaim): boolean {
  return (
    ticket.kind === claim.kind &&
    ticket.tenantId === claim.tenantId &&
    ticket.poolId === claim.poolId &&
    ticket.instanceId === claim.instanceId
  );
}

/** The minting token must still be good: revoking a token ends its unspent tickets too. */
async function checkToken(store: Store, ticket: SessionTicketRecord, now: Date): Promise<void> {
  if (ticket.tokenId === null) return;
  const token = await store.tokens.get(ticket.tokenId);
  if (!token || token.revokedAt !== null) throw refused('the token that minted it was revoked');
  if (token.expiresAt !== null && Date.parse(token.expiresAt) <= now.getTime()) {
    throw refused('the token that minted it has expired');
  }
}

function principalOf(ticket: SessionTicketRecord): AdminPrincipal | TenantPrincipal {
  const token = {
    tokenName: ticket.tokenName,
    ...(ticket.tokenId !== null ? { tokenId: ticket.tokenId } : {}),
  };
  return ticket.scopeTenantId === null
    ? { kind: 'admin', ...token }
    : { kind: 'tenant', tenantId: ticket.scopeTenantId, ...token };
}
