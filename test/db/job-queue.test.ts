import { beforeEach, expect, it } from 'vitest';
import { defaultRetryPolicy } from '../../src/core/jobs/backoff.ts';
import { CLAIMER_TIMEOUT_MS, runClaimers } from './support/claimers.ts';
import { queuedJob } from '../core/jobs/job-fixture.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { at, bytes, claim, LEASE_MS, sha256, submit } from './support/queue-fixture.ts';
import { T0, tenant } from './fixtures.ts';

await describeEachDatabase('job queue', ({ store, url }) => {
  beforeEach(async () => {
    for (const [id, net] of [
      ['acme', 1],
      ['beta', 2],
    ] as const) {
      await store().tenants.insert(tenant(id, net));
      await store().jobModules.put({ tenantId: id, sha256, bytes, createdAt: T0 });
    }
  });

  it(
    '8 claimer processes never get one job twice',
    async () => {
      await submit(store(), 300);
      const got = await runClaimers(8, { url: url(), at: at(1), limit: 2, mode: 'drain' });
      const all = got.flat().map((j) => j.id);
      expect(all).toHaveLength(300);
      expect(new Set(all).size).toBe(300);
      // Work really was spread: no claimer starved the others (they raced).
      expect(got.filter((ids) => ids.length > 0).length).toBeGreaterThan(1);
      const running = await store().jobs.list({ state: 'running', limit: 500 });
      expect(running).toHaveLength(300);
      expect(running.every((j) => j.attempts === 1 && j.leaseExpiresAt === at(31))).toBe(true);
    },
    CLAIMER_TIMEOUT_MS + 30_000,
  );

  it('claims by priority, then run_at, and skips jobs not yet due', async () => {
    await store().jobs.insert(queuedJob({ id: 'low', moduleSha256: sha256, runAt: T0 }));
    await store().jobs.insert(
      queuedJob({ id: 'high', moduleSha256: sha256, runAt: at(1), priority: 5 }),
    );
    await store().jobs.insert(queuedJob({ id: 'later', moduleSha256: sha256, runAt: at(60) }));
    const batch = await store().jobQueue.claim(claim({ limit: 10 }));
    expect(batch.map((j) => j.id)).toEqual(['high', 'low']);
  });

  it('fences worker writes by lease token and expiry: a stale worker is refused', async () => {
    await submit(store(), 1);
    const [job] = await store().jobQueue.claim(claim({ token: 'tok-a', worker: 'stale' }));
    expect(job?.state).toBe('running');
    const id = job?.id ?? '';
    // The worker stops (SIGSTOP) past its lease; nobody has swept yet.
    expect(await store().jobQueue.heartbeat(id, 'tok-a', at(31), LEASE_MS)).toBeUndefined();
    expect(await store().jobQueue.succeed(id, 'tok-a', at(32), '{}')).toBeUndefined();
    const [swept] = await store().jobQueue.sweep(at(40), defaultRetryPolicy, () => 0.5, 10);
    expect(swept).toMatchObject({ id, state: 'queued', lostAttempts: 1, failedAttempts: 0 });
    expect(swept?.errorCode).toBe('worker_lost');
    const [again] = await store().jobQueue.claim(claim({ token: 'tok-b', at: at(41) }));
    expect(again).toMatchObject({ id, attempts: 2, leaseToken: 'tok-b' });
    // SIGCONT: the first worker wakes up and tries to finish; it changes nothing.
    expect(await store().jobQueue.succeed(id, 'tok-a', at(42), '{"stale":1}')).toBeUndefined();
    expect(await store().jobQueue.fail(id, 'tok-a', failure(at(42)), defaultRetryPolicy)).toBe(
      undefined,
    );
    const beat = await store().jobQueue.heartbeat(id, 'tok-b', at(60), LEASE_MS);
    expect(beat?.leaseExpiresAt).toBe(at(90));
    const done = await store().jobQueue.succeed(id, 'tok-b', at(70), '{"ok":true}');
    expect(done).toMatchObject({ state: 'succeeded', result: '{"ok":true}', leaseToken: null });
    expect(await store().jobs.get(id)).toEqual(done);
  });

  it('retries a failed attempt after its backoff, then dead-letters it', async () => {
    await submit(store(), 1, { maxAttempts: 2 });
    const [first] = await store().jobQueue.claim(claim({ token: 't1' }));
    const retried = await store().jobQueue.fail(
      first?.id ?? '',
      't1',
      failure(at(2)),
      defaultRetryPolicy,
    );
    // Equal jitter at 0.5 after the first failure: 500 ms + 250 ms.
    expect(retried).toMatchObject({
      state: 'queued',
      failedAttempts: 1,
      runAt: '2025-01-01T00:00:02.750Z',
    });
    expect(await store().jobQueue.claim(claim({ at: at(2) }))).toEqual([]);
    const [second] = await store().jobQueue.claim(claim({ token: 't2', at: at(3) }));
    const dead = await store().jobQueue.fail(
      second?.id ?? '',
      't2',
      failure(at(4)),
      defaultRetryPolicy,
    );
    expect(dead).toMatchObject({ state: 'dead', failedAttempts: 2, errorCode: 'trap' });
  });

  it('sweeps an attempt past its timeout as failed even while it heartbeats', async () => {
    await submit(store(), 1, { timeoutSecs: 45 });
    const [job] = await store().jobQueue.claim(claim({ token: 't' }));
    await store().jobQueue.heartbeat(job?.id ?? '', 't', at(30), LEASE_MS);
    expect(await store().jobQueue.sweep(at(40), defaultRetryPolicy, () => 0, 10)).toEqual([]);
    const [swept] = await store().jobQueue.sweep(at(47), defaultRetryPolicy, () => 0, 10);
    expect(swept).toMatchObject({ state: 'queued', failedAttempts: 1, errorCode: 'timeout' });
  });

  it(
    'enforces the per-tenant running quota in the claim, across claimers',
    async () => {
      await submit(store(), 6, { tenantId: 'acme', priority: 9 });
      await submit(store(), 3, { tenantId: 'beta' });
      const got = await runClaimers(4, {
        url: url(),
        at: at(1),
        limit: 3,
        maxRunningPerTenant: 2,
        mode: 'once',
      });
      const claimed = await Promise.all(got.flat().map(async (j) => store().jobs.get(j.id)));
      expect(claimed.filter((j) => j?.tenantId === 'acme')).toHaveLength(2);
      expect(claimed.filter((j) => j?.tenantId === 'beta')).toHaveLength(2);
      expect(await store().jobQueue.runningCount('acme')).toBe(2);
      const acme = claimed.find((j) => j?.tenantId === 'acme');
      await store().jobQueue.succeed(acme?.id ?? '', acme?.leaseToken ?? '', at(2), '{}');
      const next = await store().jobQueue.claim(claim({ limit: 5, maxRunningPerTenant: 2 }));
      expect(next.map((j) => j.tenantId)).toEqual(['acme']);
    },
    CLAIMER_TIMEOUT_MS + 30_000,
  );

  it('cancels queued and running jobs, refuses terminal ones, and fences the old holder', async () => {
    await submit(store(), 2);
    const [running] = await store().jobQueue.claim(claim({ token: 't' }));
    const cancelled = await store().jobQueue.cancel(running?.id ?? '', at(2));
    expect(cancelled).toMatchObject({ state: 'cancelled', leaseToken: null, finishedAt: at(2) });
    expect(await store().jobQueue.succeed(running?.id ?? '', 't', at(3), '{}')).toBeUndefined();
    await expect(store().jobQueue.cancel(running?.id ?? '', at(3))).rejects.toThrow(/final/);
    expect((await store().jobQueue.cancel('acme-0001', at(3))).state).toBe('cancelled');
    await expect(store().jobQueue.cancel('nope', at(3))).rejects.toThrow(/not found/);
    expect(await store().jobQueue.claim(claim({ at: at(4), limit: 5 }))).toEqual([]);
  });
});

function failure(when: string) {
  return { at: when, code: 'trap', message: 'unreachable', retryable: true, jitter: 0.5 };
}
