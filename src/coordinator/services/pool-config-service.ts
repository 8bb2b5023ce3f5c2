import { isDeepStrictEqual } from 'node:util';
import { ConflictError, ValidationError } from '../../core/errors.ts';
import type { Pool } from '../../core/model.ts';
import { changedFiles, checkConfigLimits } from '../../core/pool-config.ts';
import { checkGatewayConfig, GATEWAY_CONFIG_FILE } from '../../core/gateway-config.ts';
import { roleHasDrive } from '../../core/roles.ts';
import type {
  PoolConfigView,
  SetPoolConfigRequest,
  UnsetPoolConfigRequest,
} from '../../contract/secrets.ts';
import type { PoolConfigRecord } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadPool } from './pool-service.ts';
import { lockTenant } from './tenant-service.ts';

function view(pool: Pool, record: PoolConfigRecord | undefined): PoolConfigView {
  return {
    tenantId: pool.tenantId,
    poolId: pool.id,
    version: record?.version ?? 0,
    files: record?.files ?? {},
    updatedAt: record?.updatedAt ?? null,
  };
}

function takesConfig(pool: Pool): void {
  if (roleHasDrive(pool.role, 'config')) return;
  const problem = `pool '${pool.tenantId}/${pool.id}' is a ${pool.role} pool: its instances have no config drive, so it takes no config`;
  throw new ValidationError(problem, [problem]);
}

/** A gateway applies its gateway.json at boot: a file it would refuse is refused here first. */
function checkGatewayFile(pool: Pool, files: Readonly<Record<string, string>>): void {
  const text = files[GATEWAY_CONFIG_FILE];
  if (pool.role !== 'gateway' || text === undefined) return;
  const checked = checkGatewayConfig(text);
  if (checked.ok) return;
  throw new ValidationError(
    `gateway.json of gateway pool '${pool.tenantId}/${pool.id}' is not one its guests can apply: ${checked.problems.join('; ')} (see docs/images.md, "Roles in the guest")`,
    checked.problems,
  );
}

interface Change {
  set?: Readonly<Record<string, string>>;
  unset?: readonly string[];
  replace?: boolean;
  expectedVersion?: number;
}

/**
 * A pool's config files, versioned: every change that alters them is the next version. The
 * files are not secret and travel in the signed desired document of every node that runs the
 * pool; agents rebuild the config drive at each start and wake, when the guest remounts it.
 */
export class PoolConfigService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'wake'>,
  ) {}

  async get(tenantId: string, poolId: string): Promise<PoolConfigView> {
    const pool = await loadPool(this.deps.store, tenantId, poolId);
    return view(pool, await this.deps.store.poolConfigs.get(tenantId, poolId));
  }

  set(principal: Principal, tenantId: string, poolId: string, request: SetPoolConfigRequest) {
    if (Object.keys(request.files).length === 0 && request.replace !== true) {
      const problem = 'no files given; pass files to set, or replace with none to clear the config';
      throw new ValidationError(problem, [problem]);
    }
    return this.change(principal, tenantId, poolId, {
      set: request.files,
      ...(request.replace !== undefined ? { replace: request.replace } : {}),
      ...(request.expectedVersion !== undefined
        ? { expectedVersion: request.expectedVersion }
        : {}),
    });
  }

  unset(principal: Principal, tenantId: string, poolId: string, request: UnsetPoolConfigRequest) {
    return this.change(principal, tenantId, poolId, {
      unset: request.names,
      ...(request.expectedVersion !== undefined
        ? { expectedVersion: request.expectedVersion }
        : {}),
    });
  }

  private async change(
    principal: Principal,
    tenantId: string,
    poolId: string,
    change: Change,
  ): Promise<PoolConfigView> {
    const { result, changed } = await this.deps.store.transaction(async (repos) => {
      await lockTenant(repos, tenantId);
      const pool = await loadPool(repos, tenantId, poolId);
      takesConfig(pool);
      const current = await repos.poolConfigs.get(tenantId, poolId);
      const version = current?.version ?? 0;
      if (change.expectedVersion !== undefined && change.expectedVersion !== version) {
        throw new ConflictError(
          `config of pool ${tenantId}/${poolId} changed concurrently: expected version ${change.expectedVersion}, found ${version}; reload it and retry`,
          { expectedVersion: change.expectedVersion, foundVersion: version },
        );
      }
      const files = changedFiles(current?.files ?? {}, change);
      // Nothing changes: no new version, and no document moves.
      if (isDeepStrictEqual(files, current?.files ?? {})) {
        return { result: view(pool, current), changed: false };
      }
      checkConfigLimits(`${tenantId}/${poolId}`, files);
      checkGatewayFile(pool, files);
      const at = this.deps.clock.now().toISOString();
      const createdAt = current?.createdAt ?? at;
      const next = { tenantId, poolId, version: version + 1, files, createdAt, updatedAt: at };
      const record = await repos.poolConfigs.put(next, version);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'pool.config',
        target: `${tenantId}/${poolId}`,
        detail: {
          version: record.version,
          ...(change.set ? { set: Object.keys(change.set) } : {}),
          ...(change.unset ? { unset: change.unset } : {}),
          ...(change.replace ? { replace: true } : {}),
        },
      });
      await markDocuments(repos, { tenants: [tenantId] });
      return { result: view(pool, record), changed: true };
    });
    if (changed) this.after.wake({ tenants: [tenantId] });
    return result;
  }
}
