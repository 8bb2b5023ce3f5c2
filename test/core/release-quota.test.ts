import { expect, it } from 'vitest';
import type { DesiredStatus, Instance } from '../../src/core/model.ts';
import { releasesWithinQuota } from '../../src/core/pressure-sleep.ts';
import { defaultQuotas, type UsageInstance } from '../../src/core/quotas.ts';
import { releasesWithinCounts } from '../../src/core/release-quota.ts';
import { instance, pool } from '../db/fixtures.ts';

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
