import { expect, it } from 'vitest';
import type { DesiredStatus, Instance, Pool, Quotas } from '../../src/core/model.ts';
import {
  defaultQuotas,
  quotaViolations,
  tenantUsage,
  type UsageInstance,
} from '../../src/core/quotas.ts';
import { releasesWithinCounts } from '../../src/core/release-quota.ts';
import { instance, pool } from '../db/fixtures.ts';

/**
 * The rule the pressure pass used before it counted in the store (every instance of the
 * tenant weighed), kept here as the oracle: the releases that keep every tenant within its
 * quotas, oldest marker first as planned. A
 * pressure-slept instance counts as sleeping against its tenant's quotas; if the quotas were
 * lowered while it slept (max-warm, memory), waking it would break them, so it stays asleep
 * (still marked, released once a later change makes room within the quota). Pure.
 */
function releasesWithinQuota<R extends { key: string; to?: 'running' | 'warm' }>(
  releases: readonly R[],
  instances: readonly Instance[],
  pools: readonly Pool[],
  quotas: ReadonlyMap<string, Quotas>,
): R[] {
  const keyOf = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;
  const desired = new Map(instances.map((i) => [keyOf(i), i]));
  const admitted: R[] = [];
  for (const release of releases) {
    const instance = desired.get(release.key);
    const limits = instance && quotas.get(instance.tenantId);
    if (!instance || !limits) continue;
    const woken = { ...instance, desiredStatus: release.to ?? ('warm' as const) };
    const mine = [...desired.values()].filter((i) => i.tenantId === instance.tenantId);
    const after = mine.map((i) => (i === instance ? woken : i));
    const tenantPools = pools.filter((p) => p.tenantId === instance.tenantId);
    if (quotaViolations(limits, tenantUsage(tenantPools, after)).length > 0) continue;
    desired.set(release.key, woken);
    admitted.push(release);
  }
  return admitted;
}

const statuses: DesiredStatus[] = ['running', 'warm', 'sleeping', 'stopped'];
const tenants = ['a', 'b'];
const pools = tenants.flatMap((t) => [
  pool(t, 'web', { vcpus: 2, memMib: 1024 }),
  pool(t, 'api', { vcpus: 1, memMib: 512 }),
]);
const key = (i: Instance) => `${i.tenantId}/${i.poolId}/${i.id}`;

/** A small deterministic generator, so a failure names its seed. */
function random(seed: number) {
  let s = seed + 1;
  return (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
}

function counted(instances: readonly Instance[], tenantId: string): UsageInstance[] {
  const counts = new Map<string, UsageInstance & { count: number }>();
  for (const i of instances.filter((x) => x.tenantId === tenantId)) {
    const k = `${i.poolId}/${i.desiredStatus}`;
    const c = counts.get(k) ?? { poolId: i.poolId, desiredStatus: i.desiredStatus, count: 0 };
    c.count += 1;
    counts.set(k, c);
  }
  return [...counts.values()];
}

it('admits exactly the releases that weighing every instance admits', () => {
  for (let seed = 0; seed < 200; seed += 1) {
    const next = random(seed);
    const instances = Array.from({ length: 4 + next(12) }, (_, n) =>
      instance(`i${n}`, n + 1, {
        tenantId: tenants[next(2)] ?? 'a',
        poolId: next(2) === 0 ? 'web' : 'api',
        desiredStatus: statuses[next(4)] ?? 'running',
      }),
    );
    const sleeping = instances.filter((i) => i.desiredStatus === 'sleeping');
    const releases = sleeping.map((i) => ({
      key: key(i),
      ...(next(2) === 0 ? { to: 'running' as const } : {}),
    }));
    const quotas = new Map(
      tenants.map((t) => [
        t,
        { ...defaultQuotas, maxRunning: 1 + next(4), maxWarm: next(3), maxMemMib: 1024 * next(8) },
      ]),
    );
    const counts = new Map(tenants.map((t) => [t, counted(instances, t)]));
    const held = new Map(sleeping.map((i) => [key(i), i]));
    const expected = releasesWithinQuota(releases, instances, pools, quotas);
    expect(releasesWithinCounts(releases, held, counts, pools, quotas), `seed ${seed}`).toEqual(
      expected,
    );
  }
});
