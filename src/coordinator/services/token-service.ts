import { hash, randomBytes, randomUUID } from 'node:crypto';
import { NotFoundError, UnauthenticatedError, ValidationError } from '../../core/errors.ts';
import type { CreateTokenRequest, IssuedTokenView, TokenView } from '../../contract/tokens.ts';
import type { Repos, TokenRecord } from '../../ports/store.ts';
import type { AdminPrincipal, Principal, TenantPrincipal } from '../principal.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadTenant, lockTenant } from './tenant-service.ts';

/**
 * Unsalted SHA-256 is enough here: every token is 256 random bits, so there is no dictionary
 * to try and no brute force to slow down (salts and slow KDFs protect guessable passwords).
 * Configured admin secrets are held to the same standard (core/secret-strength.ts).
 */
export function hashToken(secret: string): string {
  // One-shot: no Hash object per request (what createHash(...).update(...).digest() costs).
  return hash('sha256', secret, 'hex');
}

export function newTokenSecret(): string {
  return `mvm_${randomBytes(32).toString('base64url')}`;
}

/** A token's use is written at most this often: one write a minute, not one per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

const NOT_RECOGNISED = 'API token not recognised or revoked; check --token / MVM_TOKEN';

export function tokenView(token: TokenRecord, now: Date): TokenView {
  const expired = token.expiresAt !== null && Date.parse(token.expiresAt) <= now.getTime();
  return {
    id: token.id,
    scope: token.tenantId === null ? 'admin' : 'tenant',
    tenantId: token.tenantId,
    name: token.name,
    createdAt: token.createdAt,
    expiresAt: token.expiresAt,
    lastUsedAt: token.lastUsedAt,
    revokedAt: token.revokedAt,
    state: token.revokedAt !== null ? 'revoked' : expired ? 'expired' : 'active',
  };
}

/** One answer for a missing token and, on a tenant's path, another tenant's token. */
function tokenNotFound(id: string, tenantId: string | undefined): NotFoundError {
  const list = tenantId === undefined ? 'mvm token list' : `mvm tenant token list ${tenantId}`;
  return new NotFoundError('token', id, `see '${list}'`);
}

function expiryOf(request: CreateTokenRequest, now: Date): string | null {
  if (request.expiresInSeconds !== undefined) {
    return new Date(now.getTime() + request.expiresInSeconds * 1000).toISOString();
  }
  if (request.expiresAt === undefined) return null;
  const at = new Date(request.expiresAt);
  if (at.getTime() <= now.getTime()) {
    const problem = `expiresAt ${request.expiresAt} is not in the future; give a later time or expiresInSeconds`;
    throw new ValidationError(problem, [problem]);
  }
  return at.toISOString();
}

/** API tokens: issue, authenticate (with expiry and last use), list and revoke. */
export class TokenService {
  /** When this process last wrote each token's use, so a burst of requests writes once. */
  private readonly recorded = new Map<string, number>();

  constructor(private readonly deps: ServiceDeps) {}

  async authenticate(authorization: string | undefined): Promise<AdminPrincipal | TenantPrincipal> {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match?.[1]) throw new UnauthenticatedError();
    const token = await this.deps.store.authToken(hashToken(match[1]));
    if (!token || token.revokedAt) throw new UnauthenticatedError(NOT_RECOGNISED);
    const now = this.deps.clock.now();
    if (token.expiresAt !== null && Date.parse(token.expiresAt) <= now.getTime()) {
      throw new UnauthenticatedError(
        `API token '${token.name}' (id ${token.id}) expired at ${token.expiresAt}; ask for a new one`,
      );
    }
    await this.recordUse(token, now);
    return token.tenantId === null
      ? { kind: 'admin', tokenName: token.name, tokenId: token.id }
      : { kind: 'tenant', tenantId: token.tenantId, tokenName: token.name, tokenId: token.id };
  }

  /**
   * Last use to the minute: skipped while the stored or this process's last write is a minute
   * old or less, and a compare-and-set in the store, so replicas racing write it once.
   */
  private async recordUse(token: TokenRecord, now: Date): Promise<void> {
    const stored = token.lastUsedAt === null ? -Infinity : Date.parse(token.lastUsedAt);
    const last = Math.max(stored, this.recorded.get(token.id) ?? -Infinity);
    // More than a minute, as the store's compare-and-set below counts it.
    if (now.getTime() - last <= LAST_USED_RESOLUTION_MS) return;
    this.recorded.set(token.id, now.getTime());
    const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS).toISOString();
    await this.deps.store.tokens.touch(token.id, now.toISOString(), staleBefore);
  }

  async issue(
    principal: Principal,
    tenantId: string,
    request: CreateTokenRequest,
  ): Promise<IssuedTokenView> {
    const now = this.deps.clock.now();
    const expiresAt = expiryOf(request, now);
    return this.deps.store.transaction(async (repos) => {
      // Locked like every change of the tenant: a destroy revokes the tokens it finds, so a
      // token inserted beside it would outlive the tenant and open a later one of its name.
      await lockTenant(repos, tenantId);
      const secret = newTokenSecret();
      const record: TokenRecord = {
        id: randomUUID(),
        hash: hashToken(secret),
        tenantId,
        name: request.name,
        createdAt: now.toISOString(),
        revokedAt: null,
        expiresAt,
        lastUsedAt: null,
      };
      await repos.tokens.insert(record);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'token.issue',
        target: record.id,
        detail: { name: request.name, expiresAt },
      });
      return { ...tokenView(record, now), token: secret };
    });
  }

  /** One tenant's tokens (a tenant token sees its own tenant's only: the route's scope). */
  async list(tenantId: string): Promise<TokenView[]> {
    await loadTenant(this.deps.store, tenantId);
    return this.views(await this.deps.store.tokens.list({ tenantId }));
  }

  /** Every token, admin and tenant, or one tenant's (also a destroyed tenant's). */
  async listAll(filter: { tenant?: string }): Promise<TokenView[]> {
    const tokens = await this.deps.store.tokens.list(
      filter.tenant === undefined ? {} : { tenantId: filter.tenant },
    );
    return this.views(tokens);
  }

  /**
   * Revokes a token by id: any token for the admin (`tenantId` undefined), else only one of
   * that tenant's. Idempotent; it stops working with the next request to any replica
   * over this store, and to other replicas within their token cache's TTL (Store.authToken).
   */
  async revoke(principal: Principal, id: string, tenantId?: string): Promise<TokenView> {
    const now = this.deps.clock.now();
    return this.deps.store.transaction(async (repos) => {
      if (tenantId !== undefined) await loadTenant(repos, tenantId);
      const token = await repos.tokens.get(id);
      if (!token || (tenantId !== undefined && token.tenantId !== tenantId)) {
        throw tokenNotFound(id, tenantId);
      }
      if (token.revokedAt !== null) return tokenView(token, now);
      const revokedAt = now.toISOString();
      await repos.tokens.revoke(id, revokedAt);
      await audit(repos, this.deps, principal, {
        tenantId: token.tenantId,
        action: 'token.revoke',
        target: id,
        detail: { name: token.name, scope: token.tenantId === null ? 'admin' : 'tenant' },
      });
      return tokenView({ ...token, revokedAt }, now);
    });
  }

  private views(tokens: readonly TokenRecord[]): TokenView[] {
    const now = this.deps.clock.now();
    return tokens.map((token) => tokenView(token, now));
  }
}

/** Revokes every live admin token but `keep`; returns their ids. */
export async function revokeAdminsBut(repos: Repos, keep: string, at: string): Promise<string[]> {
  const others = (await repos.tokens.list({ admin: true })).filter(
    (token) => token.id !== keep && token.revokedAt === null,
  );
  for (const token of others) await repos.tokens.revoke(token.id, at);
  return others.map((token) => token.id);
}
