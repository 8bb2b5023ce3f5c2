/**
 * A node's document builds again only the tenant entries whose parts changed
 * (desired/node-document.ts): their rows, inputs, peers or moves out of the node. Both stores:
 * the writes that change an entry without changing any of the tenant's rows — a move's start
 * or end out of the node (it holds a raised instance asleep there, core/move-hold.ts), a pool's
 * config or spec (the tenant's inputs) — change the document a replica that keeps its entries
 * issues, as a fresh replica issues it; and a toggle builds one entry, not every tenant's.
 */
import { expect, it } from 'vitest';
import { newMove, type InstanceMove } from '../../src/core/instance-move.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { instancesOf, node, replicaOver, tenant, type Replica } from './replica-harness.ts';

/** The node's document as `replica` issues it now (its stamp left out). */
async function documentOf(replica: Replica, nodeId: string): Promise<unknown> {
  const issued = await replica.services.desired.issue(nodeId);
  const {
    generation: _g,
    issuedAt: _i,
    ...content
  } = JSON.parse(issued.envelope.payload) as NodeDesired;
  return content;
}

/** The desired status the node's document states for an instance of t0's pool web. */
async function statedOn(replica: Replica, nodeId: string, id: string): Promise<string> {
  const doc = (await documentOf(replica, nodeId)) as NodeDesired;
  const pool = doc.tenants.find((t) => t.id === 't0')?.pools.find((p) => p.id === 'web');
  return pool?.instances.find((i) => i.id === id)?.desiredStatus ?? 'absent';
}

await describeEachDatabase('tenant entries follow what changed', (db) => {
  const setUp = async (store: Store) => {
    const local = await replicaOver(store);
    await node(local.call, 'node-1', '192.0.2.1');
    await node(local.call, 'node-2', '192.0.2.2');
    for (const n of [0, 1, 2]) await tenant(local.call, n, 4);
    const [running] = (await instancesOf(local.call, 't0')).filter(
      (i) => i.nodeId === 'node-1' && i.desiredStatus === 'running',
    );
    if (!running) throw new Error('no running instance of t0 on node-1');
    // Every node's document computed once: its entries kept.
    for (const n of ['node-1', 'node-2']) await documentOf(local, n);
    return { local, running };
  };

  it('a move out of the node holds its instance asleep there, and its end lets it go', async () => {
    const store = db.store();
    const { local, running } = await setUp(store);
    const at = new Date().toISOString();
    // Written behind the services' back: a move of a running instance changes no row of it
    // (as a wake decided while a move is under way does not change its move).
    const move: InstanceMove = {
      ...newMove('node-1', 'node-2', false, null),
      id: 'mv-entry',
      tenantId: 't0',
      poolId: 'web',
      instanceId: running.id,
      drainOf: null,
      requestedBy: 'test',
      createdAt: at,
      updatedAt: at,
      version: 1,
    };
    const inserted = await store.instanceMoves.insert(move);
    expect(await statedOn(local, 'node-1', running.id)).toBe('sleeping');
    expect(await documentOf(local, 'node-1')).toEqual(
      await documentOf(await replicaOver(store), 'node-1'),
    );
    await store.instanceMoves.update({ ...inserted, step: 'failed', reason: 'test' }, 1);
    expect(await statedOn(local, 'node-1', running.id)).toBe('running');
    expect(await documentOf(local, 'node-1')).toEqual(
      await documentOf(await replicaOver(store), 'node-1'),
    );
  });

  it('a pool’s config or spec changes its tenant’s entry, and only that entry is built', async () => {
    const store = db.store();
    const { local, running } = await setUp(store);
    const entries = () =>
      (local.services.desired as unknown as { entries: { last: object } }).entries.last;
    await local.call('PUT', '/tenants/t0/pools/web/config', { files: { MODE: 'edge' } });
    const configured = (await documentOf(local, 'node-1')) as NodeDesired;
    const pool = configured.tenants.find((t) => t.id === 't0')?.pools[0];
    expect(pool?.config).toEqual({ version: 1, files: { MODE: 'edge' } });
    expect(entries()).toMatchObject({ built: 1, reused: 2 });
    expect(configured).toEqual(await documentOf(await replicaOver(store), 'node-1'));

    await local.call('PATCH', '/tenants/t0/pools/web', { pinned: true });
    const resized = (await documentOf(local, 'node-1')) as NodeDesired;
    expect(resized.tenants.find((t) => t.id === 't0')?.pools[0]?.pinned).toBe(true);
    expect(resized).toEqual(await documentOf(await replicaOver(store), 'node-1'));

    // A toggle of one instance: its tenant's entry alone is built again.
    await local.call('POST', `/tenants/t0/pools/web/instances/${running.id}/actions`, {
      action: 'warm',
    });
    expect(await statedOn(local, 'node-1', running.id)).toBe('warm');
    expect(entries()).toMatchObject({ built: 1, reused: 2 });
  });
});
