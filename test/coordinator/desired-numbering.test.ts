/**
 * A document's generation is one statement when its content changed (services/desired-service.ts,
 * `numbered`): content that differs from the digest a replica last saw stored is upserted
 * without a read first; unchanged content (most polls) is a read. Both stores, two replicas
 * over one store: each issues the same generation for the same content, whichever got there
 * first, and a changed document costs one upsert and no read.
 */
import { expect, it } from 'vitest';
import type { NodeDesired, SignedEnvelope } from '../../src/contract/desired.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { replicaOver, type Call } from './replica-harness.ts';
import { overriding, spying } from '../support/store-proxy.ts';

/** A replica over `store` whose generation reads and upserts are recorded in `calls`. */
async function replica(store: Store, calls: string[]): Promise<Call> {
  const before = (method: string) => calls.push(method);
  const generations = spying(store.generations, { before }, ['get', 'bump']);
  return (await replicaOver(overriding(store, { generations }))).call;
}

await describeEachDatabase('desired document numbering', (db) => {
  it('numbers changed content with one upsert and agrees across replicas', async () => {
    const store = db.store();
    const callsA: string[] = [];
    const callsB: string[] = [];
    const a = await replica(store, callsA);
    const b = await replica(store, callsB);
    const capacity = { vcpus: 64, memMib: 262144, diskGib: 100 };
    await a('PUT', '/nodes/node-1', { hostname: 'node-1', arch: 'x86_64', capacity });
    await a('POST', '/tenants', { id: 'acme', netId: 10, subnet: '10.240.10.0/24' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await a('POST', '/tenants/acme/pools', pool);
    await a('POST', '/tenants/acme/pools/web/scale', { running: 2 });
    const scale = (call: Call, warm: number) =>
      call('POST', '/tenants/acme/pools/web/scale', { running: 2 - warm, warm });
    const issue = async (call: Call, calls: string[]) => {
      calls.length = 0;
      const envelope = (await call('GET', '/nodes/node-1/desired')) as SignedEnvelope;
      const doc = JSON.parse(envelope.payload) as NodeDesired;
      const statuses = doc.tenants.flatMap((t) =>
        t.pools.flatMap((p) => p.instances.map((i) => i.desiredStatus)),
      );
      return { generation: doc.generation, statuses: statuses.sort(), calls: [...calls] };
    };

    // A replica that knows no digest for the node reads first.
    const first = await issue(a, callsA);
    expect(first.statuses).toEqual(['running', 'running']);
    expect(first.calls[0]).toBe('get');
    // Unchanged: one read, no upsert.
    expect((await issue(a, callsA)).calls).toEqual(['get']);

    // Changed through A: A's next document is one upsert, no read.
    await scale(a, 1);
    const second = await issue(a, callsA);
    expect(second).toEqual({
      generation: first.generation + 1,
      statuses: ['running', 'warm'],
      calls: ['bump'],
    });
    // B, knowing nothing yet, reads and finds the same generation for the same content.
    expect(await issue(b, callsB)).toMatchObject({ generation: second.generation, calls: ['get'] });

    // Changed back through B: B upserts alone; A, whose last digest was the previous content,
    // upserts too and gets B's generation, not one more.
    await scale(b, 0);
    const third = await issue(b, callsB);
    expect(third).toEqual({
      generation: second.generation + 1,
      statuses: ['running', 'running'],
      calls: ['bump'],
    });
    const thirdA = await issue(a, callsA);
    expect(thirdA.generation).toBe(third.generation);
    expect(thirdA.statuses).toEqual(['running', 'running']);
    expect(thirdA.calls[0]).toBe('bump');
    // A now knows it: unchanged is one read again.
    expect((await issue(a, callsA)).calls).toEqual(['get']);
    expect((await store.generations.get('node-1'))?.generation).toBe(third.generation);
  });
});
