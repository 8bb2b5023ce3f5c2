import { randomUUID } from 'node:crypto';
import { ConflictError, ValidationError } from '../../core/errors.ts';
import type { Repos, TokenRecord } from '../../ports/store.ts';
import type { RotatedAdminTokenView } from '../../contract/tokens.ts';
import {
  CONFIGURED_SOURCE,
  writeAdminTokenFile,
  type AdminTokenHome,
  type ResolvedAdminToken,
} from '../admin-token.ts';
import type { ServiceDeps } from './context.ts';
import { hashToken, newTokenSecret, revokeAdminsBut, tokenView } from './token-service.ts';

const ROTATION_LOCK = 'mvm-admin-token-rotation';

export interface AdminTokenDeps {
  /** Where this coordinator's admin token lives; without one, rotation is refused. */
  adminTokenHome?: AdminTokenHome;
}

/**
 * The coordinator has one admin token at a time. At start the one it was given (configured,
 * or admin.token) becomes it and every other is revoked: an earlier MVM_ADMIN_TOKEN value or a
 * deleted admin.token stops working. Rotation issues a new one, writes it to admin.token and
 * revokes the rest. A revoked secret is never taken back.
 */
export class AdminTokenService {
  constructor(private readonly deps: ServiceDeps & AdminTokenDeps) {}

  /** Makes `resolved` the admin token; returns the ids of the admin tokens it replaced. */
  async adopt(resolved: ResolvedAdminToken): Promise<{ id: string; revoked: string[] }> {
    const attempt = () => this.deps.store.transaction((repos) => this.adoptIn(repos, resolved));
    // Replicas starting at once with a new secret race to insert it: the loser finds it.
    return attempt().catch((error: unknown) => {
      if (error instanceof ConflictError) return attempt();
      throw error;
    });
  }

  private async adoptIn(repos: Repos, resolved: ResolvedAdminToken) {
    const at = this.deps.clock.now().toISOString();
    const existing = await repos.tokens.findByHash(hashToken(resolved.secret));
    if (existing) refuseToAdopt(existing, resolved);
    const record = existing ?? newAdminRecord(hashToken(resolved.secret), at);
    if (!existing) await repos.tokens.insert(record);
    const revoked = await revokeAdminsBut(repos, record.id, at);
    if (!existing || revoked.length > 0) {
      await repos.audit.append({
        tenantId: null,
        at,
        actor: 'coordinator',
        action: 'token.admin.adopt',
        target: record.id,
        detail: { source: resolved.source, revoked },
      });
    }
    return { id: record.id, revoked };
  }

  /**
   * A new admin secret in place of every other. The file is written inside the transaction,
   * last: a failed write rolls the rotation back, and a failed commit leaves a file whose
   * secret the next start adopts.
   */
  async rotate(actor: string): Promise<RotatedAdminTokenView> {
    const home = this.deps.adminTokenHome;
    if (home?.kind !== 'file') throw notRotatable(home);
    const secret = newTokenSecret();
    const now = this.deps.clock.now();
    return this.deps.store.transaction(async (repos) => {
      // Two rotations at once would each keep their own new token alive.
      if (!(await repos.locks.tryAcquire(ROTATION_LOCK))) {
        throw new ConflictError('another admin token rotation is under way; retry in a moment');
      }
      const record = newAdminRecord(hashToken(secret), now.toISOString());
      await repos.tokens.insert(record);
      const revoked = await revokeAdminsBut(repos, record.id, now.toISOString());
      await repos.audit.append({
        tenantId: null,
        at: now.toISOString(),
        actor,
        action: 'token.admin.rotate',
        target: record.id,
        detail: { revoked },
      });
      await writeAdminTokenFile(home.path, secret);
      return { ...tokenView(record, now), token: secret, revoked };
    });
  }
}

function newAdminRecord(hash: string, at: string): TokenRecord {
  return {
    id: `admin-${randomUUID()}`,
    hash,
    tenantId: null,
    name: 'admin',
    createdAt: at,
    revokedAt: null,
    expiresAt: null,
    lastUsedAt: null,
  };
}

function refuseToAdopt(existing: TokenRecord, resolved: ResolvedAdminToken): void {
  const fix =
    resolved.home.kind === 'file'
      ? `put the current admin token in ${resolved.home.path}, or delete the file to have a new one issued (which ends the current one)`
      : "set a new value (generate one with 'openssl rand -hex 32')";
  let problem: string | undefined;
  if (existing.tenantId !== null) {
    problem = `the admin token from ${resolved.source} is a token of tenant '${existing.tenantId}'; ${fix}`;
  } else if (existing.revokedAt !== null) {
    problem = `the admin token from ${resolved.source} was revoked at ${existing.revokedAt} (rotated or revoked since); ${fix}`;
  }
  if (problem !== undefined) throw new ValidationError(problem, [problem]);
}

function notRotatable(home: AdminTokenHome | undefined): ConflictError {
  if (home === undefined) {
    return new ConflictError('this coordinator keeps no admin.token file; it cannot rotate');
  }
  return new ConflictError(
    `this coordinator's admin token comes from ${CONFIGURED_SOURCE}: change the value there and restart the coordinator (the previous value stops working at start)`,
  );
}
