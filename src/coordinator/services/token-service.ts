import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { UnauthenticatedError } from '../../core/errors.ts';
import type { TokenRecord } from '../../ports/store.ts';
import type { AdminPrincipal, Principal, TenantPrincipal } from '../principal.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadTenant } from './tenant-service.ts';

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newTokenSecret(): string {
  return `mvm_${randomBytes(32).toString('base64url')}`;
}

function publicView(token: TokenRecord): Omit<TokenRecord, 'hash'> {
  const { hash: _hash, ...rest } = token;
  return rest;
}

export class TokenService {
  constructor(private readonly deps: ServiceDeps) {}

  /** Makes sure the configured admin secret is accepted (only its hash is stored). */
  async ensureAdmin(secret: string): Promise<void> {
    const hash = hashToken(secret);
    const existing = await this.deps.store.tokens.findByHash(hash);
    if (existing && !existing.revokedAt) return;
    await this.deps.store.tokens.insert({
      id: `admin-${randomUUID()}`,
      hash,
      tenantId: null,
      name: 'admin',
      createdAt: this.deps.clock.now().toISOString(),
      revokedAt: null,
    });
  }

  async authenticate(authorization: string | undefined): Promise<AdminPrincipal | TenantPrincipal> {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match?.[1]) throw new UnauthenticatedError();
    const token = await this.deps.store.tokens.findByHash(hashToken(match[1]));
    if (!token || token.revokedAt) {
      throw new UnauthenticatedError(
        'API token not recognised or revoked; check --token / MVM_TOKEN',
      );
    }
    return token.tenantId === null
      ? { kind: 'admin', tokenName: token.name }
      : { kind: 'tenant', tenantId: token.tenantId, tokenName: token.name };
  }

  async issue(principal: Principal, tenantId: string, name: string) {
    return this.deps.store.transaction(async (repos) => {
      await loadTenant(repos, tenantId);
      const secret = newTokenSecret();
      const record: TokenRecord = {
        id: randomUUID(),
        hash: hashToken(secret),
        tenantId,
        name,
        createdAt: this.deps.clock.now().toISOString(),
        revokedAt: null,
      };
      await repos.tokens.insert(record);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'token.issue',
        target: record.id,
        detail: { name },
      });
      return { ...publicView(record), token: secret };
    });
  }

  async list(tenantId: string) {
    await loadTenant(this.deps.store, tenantId);
    return (await this.deps.store.tokens.list({ tenantId })).map(publicView);
  }
}
