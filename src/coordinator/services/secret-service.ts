import {
  InternalError,
  MvmError,
  NotFoundError,
  PermissionDeniedError,
  ValidationError,
} from '../../core/errors.ts';
import type { Pool } from '../../core/model.ts';
import { roleHasDrive } from '../../core/roles.ts';
import { checkSecretBudget, effectiveSecrets, type SecretSlot } from '../../core/secrets.ts';
import type {
  NodeSecrets,
  SecretView,
  SetSecretsRequest,
  UnsetSecretsRequest,
} from '../../contract/secrets.ts';
import type { Repos, SealedSecret } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { open, placeName, seal, sealedBytes, type SealedPlace } from '../secrets/secret-box.ts';
import { secretsDigest } from '../secrets/secret-digest.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadPool } from './pool-service.ts';
import { loadTenant, lockTenant } from './tenant-service.ts';

/**
 * Taken by every transaction that seals with the current master key and by a key rotation,
 * so a rotation never misses a value sealed under the key it retires.
 */
export const SECRETS_KEY_LOCK = 'mvm.secrets-key';

export interface SecretDeps {
  keyring: Keyring;
}

type Mode = 'set' | 'rotate';

export function secretView(s: SealedSecret): SecretView {
  return {
    name: s.name,
    scope: s.poolId === null ? 'tenant' : 'pool',
    pool: s.poolId,
    version: s.version,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

const placeOf = (s: SealedSecret): SealedPlace => s;

/** Opens a stored secret with whichever of this coordinator's keys sealed it. */
export async function openSecret(keyring: Keyring, secret: SealedSecret): Promise<string> {
  const key = await keyring.find(secret.keyId);
  if (!key) {
    throw new InternalError(
      `secret ${secret.name} of ${placeName(secret)} is sealed under master key ${secret.keyId}, which ${keyring.source} does not hold; give the coordinator that key (see docs/secrets.md) or set the secret again`,
      { keyId: secret.keyId },
    );
  }
  return open(key, placeOf(secret), secret);
}

/**
 * Tenant and pool secrets: sealed at rest (AES-256-GCM under the master key), listed by name
 * only, and opened for exactly one kind of caller, a node that runs the pool. What follows a
 * change is a new document for the tenant's nodes: its secrets digest moved.
 */
export class SecretService {
  constructor(
    private readonly deps: ServiceDeps & SecretDeps,
    private readonly after: Pick<AfterWrite, 'wake'>,
  ) {}

  async list(tenantId: string, poolId?: string): Promise<SecretView[]> {
    await loadTenant(this.deps.store, tenantId);
    if (poolId !== undefined) await loadPool(this.deps.store, tenantId, poolId);
    const all = await this.deps.store.secrets.list(tenantId);
    const shown = all.filter(
      (s) => poolId === undefined || s.poolId === null || s.poolId === poolId,
    );
    return shown.map(secretView);
  }

  set(principal: Principal, tenantId: string, request: SetSecretsRequest) {
    return this.write(principal, tenantId, request, 'set');
  }

  rotate(principal: Principal, tenantId: string, request: SetSecretsRequest) {
    return this.write(principal, tenantId, request, 'rotate');
  }

  async unset(
    principal: Principal,
    tenantId: string,
    request: UnsetSecretsRequest,
  ): Promise<{ removed: string[]; missing: string[] }> {
    const result = await this.deps.store.transaction(async (repos) => {
      await lockTenant(repos, tenantId);
      const poolId = request.pool ?? null;
      if (poolId !== null) await loadPool(repos, tenantId, poolId);
      const removed: string[] = [];
      const missing: string[] = [];
      for (const name of [...new Set(request.names)].sort()) {
        const gone = await repos.secrets.delete({ tenantId, poolId, name });
        (gone ? removed : missing).push(name);
      }
      if (removed.length > 0) {
        await audit(repos, this.deps, principal, {
          tenantId,
          action: 'secret.unset',
          target: targetOf(tenantId, poolId),
          detail: { names: removed },
        });
        await markDocuments(repos, { tenants: [tenantId] });
      }
      return { removed, missing };
    });
    if (result.removed.length > 0) this.after.wake({ tenants: [tenantId] });
    return result;
  }

  /**
   * The values a node needs for one pool's secrets drive. Only a node that runs an instance
   * of the pool gets them; for any other the pool's secrets do not exist (404).
   */
  async forNode(nodeId: string, tenantId: string, poolId: string): Promise<NodeSecrets> {
    const { store, keyring } = this.deps;
    const placed = await store.instances.list({ nodeId, tenantId, poolId });
    const runs = placed.some((i) => i.desiredStatus !== 'destroyed' && i.status !== 'destroyed');
    const pool = runs ? await store.pools.get(tenantId, poolId) : undefined;
    if (!pool) {
      throw new NotFoundError(
        'secrets of pool',
        `${tenantId}/${poolId}`,
        `node '${nodeId}' runs no instance of it`,
      );
    }
    // A builder runs tenant build code: even the tenant's own secrets never reach it.
    if (!roleHasDrive(pool.role, 'secrets')) {
      throw new PermissionDeniedError(
        `pool '${tenantId}/${poolId}' is a ${pool.role} pool: its instances get no secrets drive, so no node is given its secrets`,
      );
    }
    const effective = effectiveSecrets(await store.secrets.list(tenantId), poolId);
    const values: Record<string, string> = {};
    for (const secret of effective) values[secret.name] = await openSecret(keyring, secret);
    return { tenant: tenantId, pool: poolId, digest: secretsDigest(effective), values };
  }

  private async write(
    principal: Principal,
    tenantId: string,
    request: SetSecretsRequest,
    mode: Mode,
  ): Promise<{ secrets: SecretView[] }> {
    const { written, changed } = await this.deps.store.transaction(async (repos) => {
      await lockTenant(repos, tenantId);
      const poolId = request.pool ?? null;
      if (poolId !== null) takesSecrets(await loadPool(repos, tenantId, poolId));
      await repos.locks.acquire(SECRETS_KEY_LOCK);
      const existing = await repos.secrets.list(tenantId);
      checkSecretBudget(tenantId, slotsAfter(existing, poolId, request.values));
      const sealer = new Sealer(this.deps, repos, existing, poolId, tenantId);
      const outcomes = await sealer.sealAll(request.values, mode);
      const changedNames = outcomes.filter((o) => o.changed).map((o) => o.secret);
      if (changedNames.length > 0) {
        await audit(repos, this.deps, principal, {
          tenantId,
          action: `secret.${mode}`,
          target: targetOf(tenantId, poolId),
          detail: { versions: Object.fromEntries(changedNames.map((s) => [s.name, s.version])) },
        });
        await markDocuments(repos, { tenants: [tenantId] });
      }
      return { written: outcomes.map((o) => o.secret), changed: changedNames.length > 0 };
    });
    if (changed) this.after.wake({ tenants: [tenantId] });
    return { secrets: written.map(secretView) };
  }
}

const targetOf = (tenantId: string, poolId: string | null): string =>
  poolId === null ? tenantId : `${tenantId}/${poolId}`;

function takesSecrets(pool: Pool): void {
  if (roleHasDrive(pool.role, 'secrets')) return;
  const problem = `pool '${pool.tenantId}/${pool.id}' is a ${pool.role} pool: its instances have no secrets drive, so it takes no secrets`;
  throw new ValidationError(problem, [problem]);
}

/** Every secret of the tenant as it would be after setting `values` at `poolId`'s scope. */
function slotsAfter(
  existing: readonly SealedSecret[],
  poolId: string | null,
  values: Readonly<Record<string, string>>,
): SecretSlot[] {
  const replaced = (s: SealedSecret) => s.poolId === poolId && Object.hasOwn(values, s.name);
  const kept = existing
    .filter((s) => !replaced(s))
    .map((s) => ({ name: s.name, poolId: s.poolId, bytes: sealedBytes(s) }));
  const added = Object.entries(values).map(([name, value]) => ({
    name,
    poolId,
    bytes: Buffer.byteLength(value, 'utf8'),
  }));
  return [...kept, ...added];
}

/** Seals one request's values at one scope, bumping versions only where a value changed. */
class Sealer {
  constructor(
    private readonly deps: ServiceDeps & SecretDeps,
    private readonly repos: Repos,
    private readonly existing: readonly SealedSecret[],
    private readonly poolId: string | null,
    private readonly tenantId: string,
  ) {}

  async sealAll(
    values: Readonly<Record<string, string>>,
    mode: Mode,
  ): Promise<Array<{ secret: SealedSecret; changed: boolean }>> {
    const names = Object.keys(values).sort();
    if (mode === 'rotate') this.refuseUnset(names);
    const out: Array<{ secret: SealedSecret; changed: boolean }> = [];
    for (const name of names) out.push(await this.sealOne(name, values[name] ?? '', mode));
    return out;
  }

  private previous(name: string): SealedSecret | undefined {
    return this.existing.find((s) => s.poolId === this.poolId && s.name === name);
  }

  private refuseUnset(names: readonly string[]): void {
    const missing = names.filter((name) => !this.previous(name));
    if (missing.length === 0) return;
    const where = placeName({ tenantId: this.tenantId, poolId: this.poolId });
    throw new MvmError(
      'not_found',
      `secret(s) ${missing.join(', ')} not set for ${where}, so there is nothing to rotate; set them with 'mvm secrets set' first`,
      { names: missing },
    );
  }

  private async sealOne(
    name: string,
    value: string,
    mode: Mode,
  ): Promise<{ secret: SealedSecret; changed: boolean }> {
    const previous = this.previous(name);
    if (previous && (await openSecret(this.deps.keyring, previous)) === value) {
      if (mode === 'set') return { secret: previous, changed: false };
      const problem = `the new value of secret ${name} equals its current one; a rotation needs a new value`;
      throw new ValidationError(problem, [problem]);
    }
    const at = this.deps.clock.now().toISOString();
    const place = { tenantId: this.tenantId, poolId: this.poolId, name };
    const version = (previous?.version ?? 0) + 1;
    const sealed = seal(await this.deps.keyring.current(), { ...place, version }, value);
    const secret: SealedSecret = {
      ...place,
      version,
      ...sealed,
      createdAt: previous?.createdAt ?? at,
      updatedAt: at,
    };
    await this.repos.secrets.put(secret);
    return { secret, changed: true };
  }
}
