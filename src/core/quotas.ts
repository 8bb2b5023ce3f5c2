import { InternalError, QuotaExceededError, ValidationError } from './errors.ts';
import type { Instance, Pool, Quotas } from './model.ts';

export const defaultQuotas: Readonly<Quotas> = Object.freeze({
  maxVcpus: 64,
  maxMemMib: 65536,
  maxRunning: 32,
  maxWarm: 32,
  maxPools: 16,
  maxInstancesPerPool: 64,
  maxDiskGib: 500,
});

export const quotaKeys = Object.keys(defaultQuotas) as (keyof Quotas)[];

/** What a tenant consumes once every instance has reached its desired status. */
export interface TenantUsage {
  running: number;
  warm: number;
  vcpus: number;
  memMib: number;
  diskGib: number;
  pools: number;
  /** Non-destroyed instances per pool id (pools without instances appear with 0). */
  instancesByPool: Record<string, number>;
}

export type UsagePool = Pick<Pool, 'id' | 'vcpus' | 'memMib' | 'dataDiskMib'>;
/** An instance, or `count` of them with the same pool and desired status (counted in the store). */
export type UsageInstance = Pick<Instance, 'poolId' | 'desiredStatus'> & { count?: number };

function isKnownKey(key: string): key is keyof Quotas {
  return (quotaKeys as string[]).includes(key);
}

function quotaProblems(partial: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(partial)) {
    if (value === undefined) continue;
    if (!isKnownKey(key)) {
      problems.push(`unknown quota '${key}'; known quotas: ${quotaKeys.join(', ')}`);
    } else if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      problems.push(`quota ${key} must be a non-negative integer, got ${String(value)}`);
    }
  }
  return problems;
}

/**
 * Validates a partial quota update and lays it over `base` (the tenant's current quotas, or
 * the defaults for a new tenant). Every problem is reported at once.
 */
export function validateQuotas(
  partial: Readonly<Partial<Quotas>>,
  base: Readonly<Quotas> = defaultQuotas,
): Quotas {
  const problems = quotaProblems(partial);
  if (problems.length > 0) {
    throw new ValidationError(`invalid quotas: ${problems.join('; ')}`, problems);
  }
  const merged: Quotas = { ...base };
  for (const key of quotaKeys) {
    const value = partial[key];
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

function emptyUsage(pools: readonly UsagePool[]): TenantUsage {
  const instancesByPool: Record<string, number> = {};
  for (const pool of pools) instancesByPool[pool.id] = 0;
  return {
    running: 0,
    warm: 0,
    vcpus: 0,
    memMib: 0,
    diskGib: 0,
    pools: pools.length,
    instancesByPool,
  };
}

/**
 * Usage computed from DESIRED statuses, so a request is judged by where it leads rather than
 * by how far the agents have got. Warm instances keep their RAM; sleeping ones free it; every
 * non-destroyed instance keeps its data disk.
 */
export function tenantUsage(
  pools: readonly UsagePool[],
  instances: readonly UsageInstance[],
): TenantUsage {
  const byId = new Map(pools.map((pool) => [pool.id, pool]));
  const usage = emptyUsage(pools);
  let diskMib = 0;
  for (const instance of instances) {
    if (instance.desiredStatus === 'destroyed') continue;
    const pool = byId.get(instance.poolId);
    if (!pool) {
      throw new InternalError(
        `instance references pool '${instance.poolId}' that was not passed to tenantUsage`,
      );
    }
    const n = instance.count ?? 1;
    usage.instancesByPool[pool.id] = (usage.instancesByPool[pool.id] ?? 0) + n;
    diskMib += pool.dataDiskMib * n;
    if (instance.desiredStatus === 'running') {
      usage.running += n;
      usage.vcpus += pool.vcpus * n;
      usage.memMib += pool.memMib * n;
    } else if (instance.desiredStatus === 'warm') {
      usage.warm += n;
      usage.memMib += pool.memMib * n;
    }
  }
  // Rounded once per tenant, not per instance, so small disks are not overcharged.
  usage.diskGib = Math.ceil(diskMib / 1024);
  return usage;
}

function over(label: string, used: number, max: number): string | undefined {
  return used > max ? `${label} ${used} > max ${max}` : undefined;
}

/** Every quota the usage breaks, as "running 5 > max 4" lines; empty when within quota. */
export function quotaViolations(quotas: Readonly<Quotas>, usage: TenantUsage): string[] {
  const perPool = Object.entries(usage.instancesByPool)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([poolId, count]) =>
      over(`pool '${poolId}' instances`, count, quotas.maxInstancesPerPool),
    );
  return [
    over('running', usage.running, quotas.maxRunning),
    over('warm', usage.warm, quotas.maxWarm),
    over('vcpus', usage.vcpus, quotas.maxVcpus),
    over('memory MiB', usage.memMib, quotas.maxMemMib),
    over('disk GiB', usage.diskGib, quotas.maxDiskGib),
    over('pools', usage.pools, quotas.maxPools),
    ...perPool,
  ].filter((violation): violation is string => violation !== undefined);
}

export function checkQuotas(tenantId: string, quotas: Readonly<Quotas>, usage: TenantUsage): void {
  const violations = quotaViolations(quotas, usage);
  if (violations.length > 0) throw new QuotaExceededError(tenantId, violations);
}

/** Creating one more pool must stay within maxPools. */
export function checkPoolCreate(
  tenantId: string,
  quotas: Readonly<Quotas>,
  existingPools: number,
): void {
  const violation = over('pools', existingPools + 1, quotas.maxPools);
  if (violation) throw new QuotaExceededError(tenantId, [violation]);
}
