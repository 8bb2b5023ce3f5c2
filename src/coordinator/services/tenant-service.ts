import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { deletePoolBuilds } from './pool-source-update.ts';
import type { Quotas } from '../../core/model.ts';
import { bridgeName } from '../../core/naming.ts';
import { checkQuotas, tenantUsage, validateQuotas, type TenantUsage } from '../../core/quotas.ts';
import { countsAfterMoves, type UsageMove } from '../../core/usage-moves.ts';
import { allocateTenantNetwork } from '../../core/subnets.ts';
import type { TenantDetailView, TenantView } from '../../contract/resources.ts';
import type { CreateTenantRequest, UpdateTenantRequest } from '../../contract/requests.ts';
import type { Repos, TenantRecord } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';

export function tenantView(tenant: TenantRecord): TenantView {
  return { ...tenant, bridge: bridgeName(tenant.netId) };
}

/** The one answer for a tenant that is missing or, to a tenant token, not its own. */
export function tenantNotFound(id: string): NotFoundError {
  return new NotFoundError('tenant', id, "see 'mvm tenant list'");
}

export async function loadTenant(repos: Repos, id: string): Promise<TenantRecord> {
  const tenant = await repos.tenants.get(id);
  if (!tenant) throw tenantNotFound(id);
  return tenant;
}

/**
 * The tenant, locked until the transaction ends. Every change of a tenant's quotas, pools or
 * instances starts here, then reads what it checks, then writes: on Postgres at read
 * committed nothing else would stop two requests from both passing a quota check that only
 * one of them may pass. A row lock rather than SERIALIZABLE: waiters queue instead of failing
 * and being retried (50 racing scales of one tenant would abort most attempts), it is the
 * same on every statement, and a destroyed tenant releases its waiters to a clean not-found.
 */
export async function lockTenant(repos: Repos, id: string): Promise<TenantRecord> {
  const tenant = await repos.tenants.lock(id);
  if (!tenant) throw tenantNotFound(id);
  return tenant;
}

/**
 * Tenant networks are allocated one at a time across replicas: the lowest free net id is a
 * choice from every tenant's, and no row can be locked for one that does not exist yet.
 */
const NETWORK_ALLOCATION_LOCK = 'mvm.tenant-networks';

/** A change of intent to weigh before it is stored: instances moved between desired statuses. */
export interface IntentChange {
  moved?: readonly UsageMove[];
}

/**
 * The tenant's usage by desired status, as stored or as it would be after `change`: its
 * instances counted in the store by pool and desired status (one statement, rows per pool
 * and status, none when it has no pool), never read one by one. Exact when the caller holds
 * the tenant's lock, as every writer of its intent does.
 */
export async function usageOf(
  repos: Repos,
  tenantId: string,
  change: IntentChange = {},
): Promise<TenantUsage> {
  const pools = await repos.pools.list({ tenantId });
  // Instances belong to pools (a foreign key): a tenant with no pool has no instance.
  const counts = pools.length === 0 ? [] : await repos.instances.desiredCounts(tenantId);
  return tenantUsage(pools, countsAfterMoves(counts, change.moved ?? []));
}

function usageView(usage: TenantUsage): TenantDetailView['usage'] {
  const instances = Object.values(usage.instancesByPool).reduce((a, b) => a + b, 0);
  const { running, warm, vcpus, memMib, diskGib, pools } = usage;
  return { running, warm, vcpus, memMib, diskGib, pools, instances };
}

export class TenantService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'wake'>,
  ) {}

  async create(principal: Principal, request: CreateTenantRequest): Promise<TenantView> {
    const quotas = validateQuotas(request.quotas ?? {});
    const now = this.deps.clock.now().toISOString();
    return this.deps.store.transaction(async (repos) => {
      await repos.locks.acquire(NETWORK_ALLOCATION_LOCK);
      const existing = await repos.tenants.get(request.id);
      if (existing)
        throw new ConflictError(`tenant '${request.id}' already exists`, { id: request.id });
      const taken = (await repos.tenants.networks()).map((n) => ({ ...n }));
      const network = allocateTenantNetwork({
        clusterCidr: this.deps.clusterCidr,
        taken,
        ...(request.netId !== undefined ? { requestedNetId: request.netId } : {}),
        ...(request.subnet !== undefined ? { requestedSubnet: request.subnet } : {}),
      });
      const tenant: TenantRecord = {
        id: request.id,
        ...network,
        quotas,
        egress: request.egress ?? false,
        ...(typeof request.maxRunningJobs === 'number'
          ? { maxRunningJobs: request.maxRunningJobs }
          : {}),
        createdAt: now,
        updatedAt: now,
        version: 1,
      };
      await repos.tenants.insert(tenant);
      await audit(repos, this.deps, principal, {
        tenantId: tenant.id,
        action: 'tenant.create',
        target: tenant.id,
        detail: {
          netId: tenant.netId,
          subnet: tenant.subnet,
          quotas,
          egress: tenant.egress,
          maxRunningJobs: tenant.maxRunningJobs ?? null,
        },
      });
      return tenantView(tenant);
    });
  }

  /** Every tenant, or only `visible` (a tenant token's own). */
  async list(visible?: string): Promise<TenantView[]> {
    const tenants = await this.deps.store.tenants.list();
    return tenants.filter((t) => visible === undefined || t.id === visible).map(tenantView);
  }

  /** Under the lock too: pools and instances read apart could disagree (a pool created between). */
  async get(id: string): Promise<TenantDetailView> {
    return this.deps.store.transaction(async (repos) => {
      const tenant = await lockTenant(repos, id);
      return { ...tenantView(tenant), usage: usageView(await usageOf(repos, id)) };
    });
  }

  /**
   * Quotas and the egress switch. Egress is in the documents of the nodes running the tenant:
   * their agents apply it to the tenant's NAT rule on their next pass.
   */
  async update(
    principal: Principal,
    id: string,
    request: UpdateTenantRequest,
  ): Promise<TenantDetailView> {
    const jobs =
      request.maxRunningJobs === undefined ? {} : { maxRunningJobs: request.maxRunningJobs };
    if (
      request.quotas === undefined &&
      request.egress === undefined &&
      !('maxRunningJobs' in jobs)
    ) {
      const problem = 'nothing to change; give quotas, egress or maxRunningJobs';
      throw new ValidationError(problem, [problem]);
    }
    const { view, egressChanged } = await this.deps.store.transaction(async (repos) => {
      const tenant = await lockTenant(repos, id);
      const quotas: Quotas = validateQuotas(request.quotas ?? {}, tenant.quotas);
      const usage = await usageOf(repos, id);
      // Lowering a quota below what the tenant already asked for would leave intent that can
      // never be met: refuse and say what to scale down first.
      if (request.quotas !== undefined) checkQuotas(id, quotas, usage);
      const expected = request.expectedVersion ?? tenant.version;
      const at = this.deps.clock.now().toISOString();
      const patch = {
        ...(request.quotas !== undefined ? { quotas } : {}),
        ...(request.egress !== undefined ? { egress: request.egress } : {}),
        ...jobs,
      };
      const updated = await repos.tenants.update(id, patch, expected, at);
      await audit(repos, this.deps, principal, {
        tenantId: id,
        action: 'tenant.update',
        target: id,
        detail: {
          ...(request.quotas !== undefined ? { quotas: request.quotas } : {}),
          ...(request.egress !== undefined ? { egress: request.egress } : {}),
          ...jobs,
        },
      });
      const changed = updated.egress !== tenant.egress;
      if (changed) await markDocuments(repos, { tenants: [id] });
      return { view: { ...tenantView(updated), usage: usageView(usage) }, egressChanged: changed };
    });
    if (egressChanged) this.after.wake({ tenants: [id] });
    return view;
  }

  async destroy(principal: Principal, id: string, force: boolean) {
    const result = await this.deps.store.transaction(async (repos) => {
      await lockTenant(repos, id);
      const pools = await repos.pools.list({ tenantId: id });
      if (pools.length > 0 && !force) {
        throw new ConflictError(
          `tenant '${id}' still has ${pools.length} pool(s): ${pools.map((p) => p.id).join(', ')}; destroy them first or pass --force`,
        );
      }
      const instances = await repos.instances.list({ tenantId: id });
      for (const instance of instances) {
        await repos.instances.delete({
          tenantId: id,
          poolId: instance.poolId,
          instanceId: instance.id,
        });
      }
      for (const pool of pools) {
        await repos.poolConfigs.delete(id, pool.id);
        await deletePoolBuilds(repos, id, pool.id);
        await repos.pools.delete(id, pool.id);
      }
      await repos.secrets.deleteAll(id);
      for (const token of await repos.tokens.list({ tenantId: id })) {
        if (!token.revokedAt)
          await repos.tokens.revoke(token.id, this.deps.clock.now().toISOString());
      }
      await repos.tenants.delete(id);
      await audit(repos, this.deps, principal, {
        tenantId: id,
        action: 'tenant.destroy',
        target: id,
        detail: { pools: pools.length, instances: instances.length, force },
      });
      await markDocuments(repos, { tenants: [id] });
      return { destroyed: { tenants: 1, pools: pools.length, instances: instances.length } };
    });
    // Every node holding one of its instances loses them.
    this.after.wake({ tenants: [id] });
    return result;
  }
}
