import { expect, it } from 'vitest';
import type { DesiredStatus } from '../../src/core/model.ts';
import { tenantUsage, type UsageInstance } from '../../src/core/quotas.ts';
import { countsAfterMoves } from '../../src/core/usage-moves.ts';

const pools = [
  { id: 'web', vcpus: 2, memMib: 256, dataDiskMib: 512 },
  { id: 'api', vcpus: 1, memMib: 128, dataDiskMib: 1024 },
];
const statuses: DesiredStatus[] = ['running', 'warm', 'sleeping', 'stopped'];

/** Instances one by one, and the same counted by pool and desired status. */
function fleet(seed: number): { rows: UsageInstance[]; counts: UsageInstance[] } {
  const rows: UsageInstance[] = [];
  for (let i = 0; i < 20; i += 1) {
    const poolId = (seed * 7 + i * 3) % 5 < 3 ? 'web' : 'api';
    rows.push({ poolId, desiredStatus: statuses[(seed + i * i) % 4] ?? 'running' });
  }
  const counted = new Map<string, UsageInstance & { count: number }>();
  for (const r of rows) {
    const key = `${r.poolId}/${r.desiredStatus}`;
    const c = counted.get(key) ?? { ...r, count: 0 };
    c.count += 1;
    counted.set(key, c);
  }
  return { rows, counts: [...counted.values()] };
}

it('weighs moved counts exactly as the instances with their new statuses', () => {
  for (let seed = 0; seed < 30; seed += 1) {
    const { rows, counts } = fleet(seed);
    const index = (seed * 11) % rows.length;
    const moved = rows[index];
    if (!moved) throw new Error('no row');
    const to = statuses[(seed * 5) % 4] ?? 'running';
    const changed = rows.map((r, i) => (i === index ? { ...r, desiredStatus: to } : r));
    const move = { poolId: moved.poolId, from: moved.desiredStatus, to };
    expect(tenantUsage(pools, countsAfterMoves(counts, [move]))).toEqual(
      tenantUsage(pools, changed),
    );
  }
});

it('adds a status the counts did not hold, and drops what a move empties', () => {
  const counts = [{ poolId: 'web', desiredStatus: 'stopped' as const, count: 1 }];
  const after = countsAfterMoves(counts, [{ poolId: 'web', from: 'stopped', to: 'running' }]);
  expect(after).toEqual([{ poolId: 'web', desiredStatus: 'running', count: 1 }]);
  expect(counts[0]?.count).toBe(1);
});
