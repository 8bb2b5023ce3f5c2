import { createHash, randomBytes } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError } from '../../src/core/errors.ts';
import type { Job } from '../../src/core/jobs/job.ts';
import type { JobModule } from '../../src/ports/job-store.ts';
import { queuedJob } from '../core/jobs/job-fixture.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T0, T1, T2, tenant } from './fixtures.ts';

function moduleOf(tenantId: string, bytes: Uint8Array): JobModule {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { tenantId, sha256, bytes, createdAt: T0 };
}

// Zero bytes and every other value included: nothing may be lost as text.
const wasm = moduleOf('acme', new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 255, 0]));

function job(overrides: Partial<Job> = {}): Job {
  return queuedJob({ moduleSha256: wasm.sha256, ...overrides });
}

await describeEachDatabase('job repos', ({ store, reopen }) => {
  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 1));
    await store().tenants.insert(tenant('beta', 2));
    await store().jobModules.put(wasm);
  });

  it('stores a module once per tenant, byte for byte, and never shows it to another tenant', async () => {
    const big = moduleOf('acme', randomBytes(1024 * 1024));
    expect(await store().jobModules.put(big)).toBe(true);
    expect(await store().jobModules.put(big)).toBe(false);
    const read = await store().jobModules.get('acme', big.sha256);
    expect(Buffer.from(read?.bytes ?? []).equals(Buffer.from(big.bytes))).toBe(true);
    expect(await store().jobModules.get('acme', wasm.sha256)).toEqual(wasm);
    expect(await store().jobModules.get('beta', wasm.sha256)).toBeUndefined();
    expect(await store().jobModules.put({ ...wasm, tenantId: 'beta' })).toBe(true);
  });

  it('refuses a module of a missing tenant', async () => {
    await expect(store().jobModules.put({ ...wasm, tenantId: 'ghost' })).rejects.toThrow(
      "tenant 'ghost' not found",
    );
  });

  it('round-trips a job in every column, lease and result included', async () => {
    const full = job({
      id: 'j-full',
      state: 'running',
      priority: -3,
      attempts: 2,
      failedAttempts: 1,
      lostAttempts: 0,
      maxAttempts: 7,
      leaseToken: 'tok-1',
      leaseExpiresAt: T2,
      worker: 'node-1/w-1',
      timeoutSecs: 90,
      startedAt: T1,
      idempotencyKey: 'build-42',
      retryOf: 'j-0',
      result: '{"ok":true}',
      errorCode: 'trap',
      error: 'unreachable',
      updatedAt: T1,
      finishedAt: T2,
      version: 5,
    });
    expect(await store().jobs.insert(full)).toEqual({ job: full, created: true });
    expect(await store().jobs.get('j-full')).toEqual(full);
    expect(await store().jobs.get('j-none')).toBeUndefined();
  });

  it('refuses a job whose module is not stored, and a duplicate id', async () => {
    await expect(store().jobs.insert(job({ moduleSha256: 'b'.repeat(64) }))).rejects.toThrow(
      NotFoundError,
    );
    await store().jobs.insert(job());
    await expect(store().jobs.insert(job())).rejects.toThrow(AlreadyExistsError);
    await expect(store().jobs.insert(job({ tenantId: 'beta', id: 'j-2' }))).rejects.toThrow(
      /store the module before the job/,
    );
  });

  it('returns the first job for a repeated idempotency key, per tenant; jobs without keys never collide', async () => {
    const first = job({ id: 'j-1', idempotencyKey: 'k' });
    await store().jobs.insert(first);
    const again = await store().jobs.insert(job({ id: 'j-2', idempotencyKey: 'k', input: '{}' }));
    expect(again).toEqual({ job: first, created: false });
    expect(await store().jobs.get('j-2')).toBeUndefined();
    await store().jobModules.put({ ...wasm, tenantId: 'beta' });
    const other = job({ id: 'j-3', tenantId: 'beta', idempotencyKey: 'k' });
    expect((await store().jobs.insert(other)).created).toBe(true);
    expect((await store().jobs.insert(job({ id: 'j-4' }))).created).toBe(true);
    expect((await store().jobs.insert(job({ id: 'j-5' }))).created).toBe(true);
    expect(await store().jobs.findByKey('acme', 'k')).toEqual(first);
    expect(await store().jobs.findByKey('beta', 'k')).toEqual(other);
  });

  it('creates one job when many submits race with the same key over two connections', async () => {
    const other = await reopen();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 === 0 ? store() : other).jobs.insert(job({ id: `j-${i}`, idempotencyKey: 'once' })),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    expect(await store().jobs.list({ tenantId: 'acme', limit: 100 })).toHaveLength(1);
  });

  it('lists newest first, filtered by tenant, pool and state, up to a limit', async () => {
    await store().jobModules.put({ ...wasm, tenantId: 'beta' });
    await store().jobs.insert(job({ id: 'j-a', createdAt: T0 }));
    await store().jobs.insert(job({ id: 'j-b', createdAt: T1, poolId: 'nightly' }));
    await store().jobs.insert(job({ id: 'j-c', createdAt: T2, state: 'dead' }));
    await store().jobs.insert(job({ id: 'j-d', createdAt: T2, tenantId: 'beta' }));
    const ids = (jobs: Job[]) => jobs.map((j) => j.id);
    expect(ids(await store().jobs.list({ limit: 10 }))).toEqual(['j-d', 'j-c', 'j-b', 'j-a']);
    expect(ids(await store().jobs.list({ tenantId: 'acme', limit: 2 }))).toEqual(['j-c', 'j-b']);
    expect(ids(await store().jobs.list({ poolId: 'nightly', limit: 10 }))).toEqual(['j-b']);
    expect(ids(await store().jobs.list({ state: 'dead', limit: 10 }))).toEqual(['j-c']);
  });

  it('deletes a tenant together with its jobs and modules, leaving other tenants alone', async () => {
    await store().jobModules.put({ ...wasm, tenantId: 'beta' });
    await store().jobs.insert(job({ id: 'j-a' }));
    await store().jobs.insert(job({ id: 'j-b', tenantId: 'beta' }));
    await store().tenants.delete('acme');
    expect(await store().jobs.get('j-a')).toBeUndefined();
    expect(await store().jobModules.get('acme', wasm.sha256)).toBeUndefined();
    expect(await store().jobs.get('j-b')).toBeDefined();
  });
});
