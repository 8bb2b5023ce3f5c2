/**
 * A node's document rows are kept per replica and patched with the rows changed since
 * (desired/node-rows.ts, instances.documentChanges). Both stores: after random sequences of
 * changes made through this replica and a second one over the same store, and behind both
 * (moves and deletions written to the store directly), every node's document is
 * byte-identical to a fresh replica's; a toggle reads the one row it changed; a pruned
 * horizon past the kept cursor reads the node in full.
 */
import { expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/desired-doc.ts';
import { nodeScope, tenantScope } from '../../src/core/document-marks.ts';
import type { DocumentChanges, Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { overriding, spying } from '../support/store-proxy.ts';
import {
  instancesOf,
  node,
  replicaOver,
  tenant,
  type Call,
  type ListedInstance as Instance,
} from './replica-harness.ts';

/** A replica over `store`: its calls. */
async function replica(store: Store): Promise<Call> {
  return (await replicaOver(store)).call;
}

/** The store, recording full reads of a node's rows and each patch read's answer. */
function recordingRows(store: Store) {
  const log = { full: [] as string[], patches: [] as Array<DocumentChanges | undefined> };
  const instances = spying(
    store.instances,
    {
      before: (method, [nodeId]) => {
        if (method === 'documentRows') log.full.push(nodeId as string);
      },
      after: (method, _, answer) => {
        if (method === 'documentChanges') log.patches.push(answer as DocumentChanges | undefined);
      },
    },
    ['documentRows', 'documentChanges'],
  );
  return { store: overriding(store, { instances }), log };
}

/** The node's signed payload as this replica issues it now: the document's exact bytes. */
async function payloadOn(call: Call, nodeId: string): Promise<string> {
  return ((await call('GET', `/nodes/${nodeId}/desired`)) as { payload: string }).payload;
}

/** Deterministic choices (a seeded LCG), so a failure replays. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return {
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T,
  };
}

const NODES = ['node-1', 'node-2', 'node-3'];
const TENANTS = [0, 1, 2, 3];

await describeEachDatabase('node documents patched from the previous one', (db) => {
  it('after random changes through either replica or behind both, equals a fresh replica byte for byte', async () => {
    const recording = recordingRows(db.store());
    const store = db.store();
    const local = await replica(recording.store);
    const other = await replica(store);
    for (const [i, id] of NODES.entries()) await node(local, id, `192.0.2.${i + 1}`);
    for (const n of TENANTS) await tenant(local, n, 3);
    const rnd = random(17);
    let left = 0;

    const anyInstance = async (): Promise<Instance | undefined> => {
      const all = (await instancesOf(local, `t${rnd.pick(TENANTS)}`)).filter(
        (i) => i.nodeId !== null,
      );
      return all.length === 0 ? undefined : rnd.pick(all);
    };
    const ops: Array<(call: Call, via: string) => Promise<unknown>> = [
      (call) =>
        call('POST', `/tenants/t${rnd.pick(TENANTS)}/pools/web/scale`, {
          running: rnd.int(6),
          warm: rnd.int(3),
        }),
      async (call) => {
        const i = await anyInstance();
        if (!i) return;
        const action = rnd.pick(['warm', 'start', 'sleep', 'wake', 'destroy', 'stop']);
        await call('POST', `/tenants/${i.tenantId}/pools/web/instances/${i.id}/actions`, {
          action,
        });
      },
      (call, via) => call('PATCH', `/tenants/t${rnd.pick(TENANTS)}`, { egress: via === 'local' }),
      (call) =>
        call('PATCH', `/tenants/t${rnd.pick(TENANTS)}/pools/web`, { pinned: rnd.int(2) === 1 }),
      (call) =>
        call('POST', `/tenants/t${rnd.pick(TENANTS)}/secrets`, {
          values: { K: `v${rnd.int(99)}` },
        }),
      (call) =>
        call('PUT', `/tenants/t${rnd.pick(TENANTS)}/pools/web/config`, {
          files: { M: `${rnd.int(9)}` },
        }),
      async (call) => {
        // A drain puts never-booted instances back to placement: they leave the node.
        const id = rnd.pick(NODES);
        await call('POST', `/nodes/${id}/drain`);
        await call('POST', `/nodes/${id}/uncordon`);
      },
      async () => {
        // Behind both replicas: an instance moved to another node (it leaves one, reaches one).
        const i = await anyInstance();
        if (!i) return;
        const stored = await store.instances.get({
          tenantId: i.tenantId,
          poolId: i.poolId,
          instanceId: i.id,
        });
        if (!stored) return;
        const to = rnd.pick(NODES.filter((n) => n !== stored.nodeId));
        const key = { tenantId: i.tenantId, poolId: i.poolId, instanceId: i.id };
        await store.instances.update(key, { nodeId: to }, stored.version, '2026-11-22T00:00:05Z');
        // Its marks, as every write path moves them (peers move): the rows say nothing there.
        await store.generations.markChanged([tenantScope(i.tenantId), nodeScope(to)]);
        left += 1;
      },
      async () => {
        // Behind both replicas: a row deleted (its tombstone is all that tells).
        const i = await anyInstance();
        if (!i) return;
        await store.instances.delete({ tenantId: i.tenantId, poolId: i.poolId, instanceId: i.id });
        await store.generations.markChanged([tenantScope(i.tenantId)]);
        left += 1;
      },
    ];

    for (const call of [local, other]) for (const id of NODES) await payloadOn(call, id);
    let compared = 0;
    for (let step = 0; step < 36; step += 1) {
      const [via, call] =
        rnd.int(2) === 0 ? (['local', local] as const) : (['other', other] as const);
      const op = rnd.pick(ops);
      try {
        await op(call, via);
      } catch (error) {
        // A refused change (a 409 for an action the state does not allow) changes nothing.
        if (!/: 4\d\d /.test(String(error))) throw error;
      }
      const fresh = await replica(store);
      for (const id of NODES) {
        const expected = await payloadOn(fresh, id);
        // The payload is the canonical text of what it says.
        expect(expected).toBe(canonicalJson(JSON.parse(expected)));
        expect(await payloadOn(local, id), `step ${step} via ${via}: ${id}`).toBe(expected);
        expect(await payloadOn(other, id), `step ${step} via ${via}: ${id} (other)`).toBe(expected);
        compared += 1;
      }
    }
    expect(compared).toBe(36 * NODES.length);
    expect(left).toBeGreaterThan(0);
    // Patched, not read again: one full read per node at the start, and none after.
    expect(recording.log.full.sort()).toEqual([...NODES].sort());
    expect(recording.log.patches.filter((p) => p !== undefined).length).toBeGreaterThan(36);
  });

  it('reads only the row a toggle changed, not the node’s other instances', async () => {
    const recording = recordingRows(db.store());
    const call = await replica(recording.store);
    await node(call, 'node-1', '192.0.2.1');
    await tenant(call, 0, 30);
    await payloadOn(call, 'node-1');
    expect(recording.log.full).toEqual(['node-1']);
    const [toggled] = await instancesOf(call, 't0');
    if (!toggled) throw new Error('t0 holds nothing');
    await call('POST', `/tenants/t0/pools/web/instances/${toggled.id}/actions`, { action: 'warm' });
    recording.log.patches.length = 0;
    const doc = JSON.parse(await payloadOn(call, 'node-1')) as {
      tenants: Array<{ pools: Array<{ instances: Instance[] }> }>;
    };
    const listed = doc.tenants[0]?.pools[0]?.instances ?? [];
    expect(listed).toHaveLength(30);
    expect(listed.find((i) => i.id === toggled.id)?.desiredStatus).toBe('warm');
    expect(recording.log.full).toEqual(['node-1']);
    expect(recording.log.patches.map((p) => p?.rows.map((r) => r.instance.id))).toEqual([
      [toggled.id],
    ]);
  });

  it('drops an instance deleted right after it was the last row written', async () => {
    const store = db.store();
    const call = await replica(store);
    await node(call, 'node-1', '192.0.2.1');
    await tenant(call, 0, 3);
    const [last] = await instancesOf(call, 't0');
    if (!last) throw new Error('t0 holds nothing');
    // The highest stamp of all is this row's, and the kept cursor passes it.
    await call('POST', `/tenants/t0/pools/web/instances/${last.id}/actions`, { action: 'warm' });
    await payloadOn(call, 'node-1');
    await store.instances.delete({ tenantId: 't0', poolId: 'web', instanceId: last.id });
    const payload = await payloadOn(call, 'node-1');
    expect(payload).not.toContain(last.id);
    expect(payload).toBe(await payloadOn(await replica(store), 'node-1'));
  });

  it('reads the node in full when tombstones past its cursor were pruned', async () => {
    const recording = recordingRows(db.store());
    const store = db.store();
    const call = await replica(recording.store);
    await node(call, 'node-1', '192.0.2.1');
    await tenant(call, 0, 4);
    await payloadOn(call, 'node-1');
    const [gone, last] = await instancesOf(call, 't0');
    if (!gone || !last) throw new Error('t0 holds too little');
    await store.instances.delete({ tenantId: 't0', poolId: 'web', instanceId: gone.id });
    await store.instances.delete({ tenantId: 't0', poolId: 'web', instanceId: last.id });
    // Pruned at once: the first deletion's tombstone is gone (the newest is always kept),
    // only the horizon tells.
    const { pruned } = await store.instances.pruneTombstones(
      '9999-01-01T00:00:00Z',
      '2026-11-22T00:00:09Z',
    );
    expect(pruned).toBeGreaterThan(0);
    const doc = JSON.parse(await payloadOn(call, 'node-1')) as {
      tenants: Array<{ pools: Array<{ instances: Instance[] }> }>;
    };
    const ids = doc.tenants[0]?.pools[0]?.instances.map((i) => i.id);
    expect(ids).toHaveLength(2);
    expect(ids).not.toContain(gone.id);
    expect(recording.log.full).toEqual(['node-1', 'node-1']);
    expect(await payloadOn(call, 'node-1')).toBe(await payloadOn(await replica(store), 'node-1'));
  });
});
