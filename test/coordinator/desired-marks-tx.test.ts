import { expect, it } from 'vitest';
import { markDocuments } from '../../src/coordinator/services/mark-documents.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fixedClock } from './api-client-harness.ts';
import { replicaOver } from './replica-harness.ts';
import { overriding } from '../support/store-proxy.ts';

/**
 * The store as a replica that can only move document marks inside its writes' transactions:
 * a bump after a commit (the old way, lost to a crash between the two) throws here.
 */
function marksOnlyInTransactions(store: Store): Store {
  const markChanged = () => Promise.reject(new Error('document marks moved outside a transaction'));
  const markChangedProbing = markChanged;
  return overriding(store, {
    generations: overriding(store.generations, { markChanged, markChangedProbing }),
  });
}

interface Doc {
  generation: number;
  tenants: Array<{
    id: string;
    egress: boolean;
    pools: Array<{ instances: Array<{ id: string; desiredStatus: string }> }>;
  }>;
}

const docOf = (answer: unknown) => JSON.parse((answer as { payload: string }).payload) as Doc;

await describeEachDatabase('document marks moved in the writing transaction', (db) => {
  it('carries every kind of change through another replica to a watcher that never refreshes', async () => {
    // The writer can bump marks only inside its transactions; the watcher polls the marks every
    // 20 ms and would recompute on its own only after an hour.
    const writer = await replicaOver(marksOnlyInTransactions(db.store()), {
      desiredPollMs: 60_000,
    });
    const watcher = await replicaOver(db.store(), {
      desiredPollMs: 20,
      desiredRefreshMs: 3_600_000,
    });
    const capacity = { vcpus: 4, memMib: 4096, diskGib: 10 };
    await writer.call('PUT', '/nodes/node-1', { hostname: 'node-1', arch: 'x86_64', capacity });
    await writer.call('POST', '/tenants', { id: 'acme' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await writer.call('POST', '/tenants/acme/pools', pool);
    await writer.call('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    let doc = docOf(await watcher.call('GET', '/nodes/node-1/desired'));
    const instance = doc.tenants[0]?.pools[0]?.instances[0];
    expect(instance?.desiredStatus).toBe('running');
    const key = { tenantId: 'acme', poolId: 'web', instanceId: instance?.id ?? '' };

    /** The watcher's next document after `change`, waiting on the watcher's replica. */
    const next = async (change: () => Promise<unknown>): Promise<Doc> => {
      const watch = watcher.call(
        'GET',
        `/nodes/node-1/desired?after=${doc.generation}&waitMs=10000`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      await change();
      const answer = await watch;
      expect((answer as { unchanged?: boolean }).unchanged).toBeUndefined();
      doc = docOf(answer);
      return doc;
    };

    // An instance's change of intent (its node's mark).
    const stopped = await next(() =>
      writer.call('POST', `/tenants/acme/pools/web/instances/${key.instanceId}/actions`, {
        action: 'stop',
      }),
    );
    expect(stopped.tenants[0]?.pools[0]?.instances[0]?.desiredStatus).toBe('stopped');

    // A tenant's change (its tenant's mark).
    const egress = await next(() => writer.call('PATCH', '/tenants/acme', { egress: true }));
    expect(egress.tenants[0]?.egress).toBe(true);

    // A placement by the scheduler's own pass: the instance is taken off the node behind
    // every service's back (no mark), then the writer's pass places it again.
    const stored = await db.store().instances.get(key);
    const at = fixedClock.now().toISOString();
    await db.store().instances.update(key, { nodeId: null }, stored?.version ?? 0, at);
    doc = docOf(await watcher.call('GET', '/nodes/node-1/desired'));
    expect(doc.tenants).toEqual([]);
    const placed = await next(async () => {
      const outcome = await writer.services.scheduler.schedule();
      expect(outcome.placed).toEqual([
        { instance: `acme/web/${key.instanceId}`, nodeId: 'node-1' },
      ]);
    });
    expect(placed.tenants[0]?.pools[0]?.instances[0]?.id).toBe(key.instanceId);

    // A pool destroyed (its tenant's mark): the node's document loses it.
    const gone = await next(() => writer.call('DELETE', '/tenants/acme/pools/web?force=true'));
    expect(gone.tenants).toEqual([]);
  });

  it('commits the marks with the write, or not at all', async () => {
    const store = db.store();
    const before = await store.generations.allMarks();
    const change = { tenants: ['acme'], nodes: ['node-1'], fleet: true };
    await expect(
      store.transaction(async (repos) => {
        await markDocuments(repos, change);
        throw new Error('the write fails after its marks');
      }),
    ).rejects.toThrow('the write fails after its marks');
    expect(await store.generations.allMarks()).toEqual(before);
    await store.transaction((repos) => markDocuments(repos, change));
    const after = await store.generations.allMarks();
    for (const scope of ['tenant:acme', 'node:node-1', 'fleet']) {
      expect(after.get(scope)).toBe((before.get(scope) ?? 0) + 1);
    }
  });

  it('counts every one of many concurrent writers bumping the same marks', async () => {
    const store = db.store();
    const before = await store.generations.allMarks();
    const writers = 24;
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        store.transaction((repos) =>
          markDocuments(repos, { fleet: true, tenants: [`t${i % 3}`], nodes: ['node-1'] }),
        ),
      ),
    );
    const after = await store.generations.allMarks();
    expect((after.get('fleet') ?? 0) - (before.get('fleet') ?? 0)).toBe(writers);
    expect((after.get('node:node-1') ?? 0) - (before.get('node:node-1') ?? 0)).toBe(writers);
    const tenants = [0, 1, 2].map(
      (t) => (after.get(`tenant:t${t}`) ?? 0) - (before.get(`tenant:t${t}`) ?? 0),
    );
    expect(tenants).toEqual([8, 8, 8]);
  });
});
