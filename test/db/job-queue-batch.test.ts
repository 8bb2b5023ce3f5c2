import { beforeEach, expect, it } from 'vitest';
import type { Job } from '../../src/core/jobs/job.ts';
import type { LeaseCompletion } from '../../src/ports/job-store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { at, bytes, claim, LEASE_MS, sha256, submit } from './support/queue-fixture.ts';
import { T0, tenant } from './fixtures.ts';

const done = (jobs: Job[], result = '{}'): LeaseCompletion[] =>
  jobs.map((j) => ({ id: j.id, token: j.leaseToken ?? '', result }));

await describeEachDatabase('job queue, batched completion', ({ store }) => {
  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 1));
    await store().jobModules.put({ tenantId: 'acme', sha256, bytes, createdAt: T0 });
  });

  it('succeeds a batch, each by its own token: a stale token among them is refused alone', async () => {
    await submit(store(), 4);
    const first = await store().jobQueue.claim(claim({ limit: 2, token: 'tok-a' }));
    const second = await store().jobQueue.claim(claim({ limit: 2, token: 'tok-b' }));
    const batch = [...done(first, '"r"'), ...done(second, '"r"')];
    const [stale] = second;
    // The second batch's first job is cancelled, so its holder's token no longer leases it.
    await store().jobQueue.cancel(stale?.id ?? '', at(2));
    const wrongToken = { id: first[1]?.id ?? '', token: 'tok-b', result: '"x"' };
    const outcome = await store().jobQueue.succeedMany(
      [batch[0], wrongToken, batch[2], batch[3]].filter((c) => c !== undefined),
      at(3),
    );
    expect(outcome.succeeded).toEqual([first[0]?.id, second[1]?.id]);
    expect(outcome.lost).toEqual([first[1]?.id, stale?.id]);
    const after = await Promise.all(
      ['acme-0000', 'acme-0001', 'acme-0002', 'acme-0003'].map(async (id) => store().jobs.get(id)),
    );
    expect(after.map((j) => j?.state)).toEqual(['succeeded', 'running', 'cancelled', 'succeeded']);
    expect(after[0]).toMatchObject({ result: '"r"', leaseToken: null, finishedAt: at(3) });
    expect(after[1]).toMatchObject({ leaseToken: 'tok-a', result: null });
    // Terminal states are guarded: a second completion of a finished job is lost.
    const again = await store().jobQueue.succeedMany(done(first.slice(0, 1)), at(4));
    expect(again).toEqual({ succeeded: [], lost: [first[0]?.id] });
  });

  it('refuses a lease that ran out before the sweeper noticed', async () => {
    await submit(store(), 2);
    const jobs = await store().jobQueue.claim(claim({ limit: 2 }));
    const late = at(1 + LEASE_MS / 1000);
    const outcome = await store().jobQueue.succeedMany(done(jobs), late);
    expect(outcome).toEqual({ succeeded: [], lost: jobs.map((j) => j.id) });
    expect((await store().jobs.get(jobs[0]?.id ?? ''))?.state).toBe('running');
  });

  it('completes the last batch and claims the next in one call, and drains the queue', async () => {
    await submit(store(), 7);
    let held: Job[] = [];
    const seen: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      const step = await store().jobQueue.succeedAndClaim(
        done(held),
        claim({ limit: 3, at: at(1 + round) }),
      );
      expect(step.lost).toEqual([]);
      expect(step.succeeded).toEqual(held.map((j) => j.id));
      held = step.jobs;
      seen.push(...held.map((j) => j.id));
      if (held.length === 0) break;
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const succeeded = await store().jobs.list({ state: 'succeeded', limit: 10 });
    expect(succeeded).toHaveLength(7);
    expect(succeeded.every((j) => j.attempts === 1 && j.worker === null)).toBe(true);
  });

  it('reports a lost lease in the combined call and still claims', async () => {
    await submit(store(), 3);
    const jobs = await store().jobQueue.claim(claim({ limit: 2, token: 'tok-a' }));
    const [kept, taken] = jobs;
    await store().jobQueue.cancel(taken?.id ?? '', at(2));
    const step = await store().jobQueue.succeedAndClaim(done(jobs), claim({ at: at(3), limit: 5 }));
    expect(step.succeeded).toEqual([kept?.id]);
    expect(step.lost).toEqual([taken?.id]);
    expect(step.jobs.map((j) => j.id)).toEqual(['acme-0002']);
    expect(step.jobs[0]).toMatchObject({ state: 'running', attempts: 1 });
  });

  it('counts the finished jobs as gone for a quota-bound claim', async () => {
    await submit(store(), 4);
    const jobs = await store().jobQueue.claim(claim({ limit: 2, maxRunningPerTenant: 2 }));
    expect(jobs).toHaveLength(2);
    const blocked = await store().jobQueue.claim(claim({ limit: 2, maxRunningPerTenant: 2 }));
    expect(blocked).toEqual([]);
    const step = await store().jobQueue.succeedAndClaim(
      done(jobs),
      claim({ at: at(2), limit: 5, maxRunningPerTenant: 2 }),
    );
    expect(step.succeeded).toHaveLength(2);
    expect(step.jobs.map((j) => j.id)).toEqual(['acme-0002', 'acme-0003']);
  });
});
