import { createHash } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import type { Store } from '../../src/ports/store.ts';
import type { JournalFence, RecordEffect } from '../../src/ports/job-store.ts';
import { queuedJob } from '../core/jobs/job-fixture.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T0, tenant } from './fixtures.ts';

const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
const sha256 = createHash('sha256').update(bytes).digest('hex');
const hash = (text: string) => createHash('sha256').update(text).digest('hex');

function at(seconds: number): string {
  return new Date(Date.parse(T0) + seconds * 1000).toISOString();
}

function call(seq: number, op: RecordEffect['op'], request: string): RecordEffect {
  return { seq, op, request, requestHash: hash(request), idempotent: false };
}

await describeEachDatabase('job effect journal', ({ store }) => {
  let fence: JournalFence;

  beforeEach(async () => {
    await store().tenants.insert(tenant('acme', 1));
    await store().jobModules.put({ tenantId: 'acme', sha256, bytes, createdAt: T0 });
    await store().jobs.insert(queuedJob({ id: 'j-1', moduleSha256: sha256, runAt: T0 }));
    const [job] = await store().jobQueue.claim({
      worker: 'node-1/w-1',
      at: at(1),
      leaseMs: 30_000,
      limit: 1,
      token: 'tok-1',
    });
    expect(job?.id).toBe('j-1');
    fence = { jobId: 'j-1', token: 'tok-1', at: at(2) };
  });

  const tx = <T>(s: Store, fn: (j: Store['jobJournal']) => Promise<T>) =>
    s.transaction((repos) => fn(repos.jobJournal));

  it('records, marks sent and completes in order; a completed entry is answered as it is', async () => {
    const fetch = {
      ...call(0, 'http_fetch', '{"url":"http://x/","method":"POST"}'),
      idempotent: true,
    };
    expect((await tx(store(), (j) => j.record(fence, fetch)))?.state).toBe('recorded');
    expect((await tx(store(), (j) => j.markSent(fence, 0)))?.state).toBe('sent');
    const done = await tx(store(), (j) => j.complete(fence, 0, '{"status":200}'));
    expect(done).toMatchObject({ state: 'completed', response: '{"status":200}', attempt: 1 });
    // A retried completion with another answer changes nothing.
    const again = await tx(store(), (j) => j.complete(fence, 0, '{"status":500}'));
    expect(again?.response).toBe('{"status":200}');
    const entries = await store().jobJournal.entries('j-1');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ op: 'http_fetch', idempotent: true, state: 'completed' });
  });

  it('appends only at the end and refuses another call at a recorded seq', async () => {
    await expect(tx(store(), (j) => j.record(fence, call(1, 'now', '{}')))).rejects.toThrow(
      /not next/,
    );
    await tx(store(), (j) => j.record(fence, call(0, 'now', '{}')));
    // The same call again (a worker resuming) keeps the entry.
    expect((await tx(store(), (j) => j.record(fence, call(0, 'now', '{}'))))?.seq).toBe(0);
    await expect(tx(store(), (j) => j.record(fence, call(0, 'random', '{}')))).rejects.toThrow(
      /another call/,
    );
    await tx(store(), (j) => j.complete(fence, 0, '{"now":1}'));
    await expect(tx(store(), (j) => j.record(fence, call(0, 'now', '{}')))).rejects.toThrow(
      /already completed/,
    );
  });

  it('kv_set changes the KV in the transaction that completes the entry, once', async () => {
    await tx(store(), (j) => j.record(fence, call(0, 'kv_set', '{"key":"n","value":"1"}')));
    expect(await store().jobJournal.kvGet('acme', 'n')).toBeUndefined();
    const done = await tx(store(), (j) => j.complete(fence, 0, undefined));
    expect(done?.response).toBe('{"version":1}');
    await tx(store(), (j) => j.complete(fence, 0, undefined));
    expect(await store().jobJournal.kvGet('acme', 'n')).toEqual({ value: '1', version: 1 });
    await tx(store(), (j) => j.record(fence, call(1, 'kv_get', '{"key":"n"}')));
    const read = await tx(store(), (j) => j.complete(fence, 1, '{"forged":true}'));
    expect(read?.response).toBe('{"value":"1","version":1}');
    // A malformed request is answered with an error, and the KV is untouched.
    await tx(store(), (j) => j.record(fence, call(2, 'kv_set', '{"key":"n","value":7}')));
    expect((await tx(store(), (j) => j.complete(fence, 2, undefined)))?.response).toMatch(/error/);
    expect(await store().jobJournal.kvGet('acme', 'n')).toEqual({ value: '1', version: 1 });
  });

  it('a rolled-back completion leaves neither the entry completed nor the KV changed', async () => {
    await tx(store(), (j) => j.record(fence, call(0, 'kv_set', '{"key":"n","value":"1"}')));
    await expect(
      tx(store(), async (j) => {
        await j.complete(fence, 0, undefined);
        throw new Error('crash before commit');
      }),
    ).rejects.toThrow(/crash/);
    expect(await store().jobJournal.kvGet('acme', 'n')).toBeUndefined();
    expect((await store().jobJournal.entries('j-1'))[0]?.state).toBe('recorded');
  });

  it('every write is fenced: a wrong token or an expired lease writes nothing', async () => {
    const stale = { ...fence, token: 'tok-other' };
    expect(await tx(store(), (j) => j.record(stale, call(0, 'now', '{}')))).toBeUndefined();
    const late = { ...fence, at: at(31) };
    expect(await tx(store(), (j) => j.record(late, call(0, 'now', '{}')))).toBeUndefined();
    expect(await store().jobJournal.entries('j-1')).toEqual([]);
    await tx(store(), (j) => j.record(fence, call(0, 'kv_set', '{"key":"n","value":"1"}')));
    expect(await tx(store(), (j) => j.complete(late, 0, undefined))).toBeUndefined();
    expect(await tx(store(), (j) => j.markSent(late, 0))).toBeUndefined();
    expect(await store().jobJournal.kvGet('acme', 'n')).toBeUndefined();
    // After the sweeper requeues it and another worker claims, the old token stays refused.
    await store().jobQueue.sweep(
      at(40),
      { baseDelayMs: 0, maxDelayMs: 0, maxLostAttempts: 5 },
      () => 0,
      10,
    );
    await store().jobQueue.claim({
      worker: 'node-1/w-2',
      at: at(41),
      leaseMs: 30_000,
      limit: 1,
      token: 'tok-2',
    });
    expect(
      await tx(store(), (j) => j.complete({ ...fence, at: at(42) }, 0, undefined)),
    ).toBeUndefined();
    const second = { jobId: 'j-1', token: 'tok-2', at: at(42) };
    expect((await tx(store(), (j) => j.complete(second, 0, undefined)))?.attempt).toBe(2);
    expect(await store().jobJournal.kvGet('acme', 'n')).toEqual({ value: '1', version: 1 });
  });

  it("deleting the tenant deletes its jobs' journals and its KV", async () => {
    await tx(store(), (j) => j.record(fence, call(0, 'kv_set', '{"key":"n","value":"1"}')));
    await tx(store(), (j) => j.complete(fence, 0, undefined));
    await store().tenants.delete('acme');
    expect(await store().jobJournal.entries('j-1')).toEqual([]);
    expect(await store().jobJournal.kvGet('acme', 'n')).toBeUndefined();
  });
});
