import { expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import type { Instance } from '../../src/core/model.ts';
import type { InstanceKey, Store } from '../../src/ports/store.ts';
import { coordinatorWorld, type CoordinatorWorld } from '../support/coordinator-world.ts';
import { countPgStatements } from '../support/pg-statements.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { overriding } from '../support/store-proxy.ts';

/** The store with its transactions counted: a report that writes opens one. */
function countingTransactions(store: Store): { store: Store; transactions(): number } {
  let n = 0;
  const transaction: Store['transaction'] = (fn) => {
    n += 1;
    return store.transaction(fn);
  };
  return { store: overriding(store, { transaction }), transactions: () => n };
}

/** Admin calls through the app, refusing any answer but a success. */
function caller(world: CoordinatorWorld) {
  return {
    async call(method: string, path: string, body: unknown): Promise<void> {
      const response = await world.app.request(`/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${world.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (response.status >= 300) throw new Error(`${method} ${path}: ${await response.text()}`);
    },
  };
}

await describeEachDatabase('an unchanged status report', ({ name, store }) => {
  /** One node, acme's one instance placed on it; a clock that moves a second a reading. */
  async function placed() {
    let t = Date.UTC(2026, 0, 1);
    const notifier = new ChangeNotifier();
    const counting = countingTransactions(store());
    const world = await coordinatorWorld(counting.store, {
      notifier,
      clock: { now: () => new Date((t += 1000)), sleep: () => Promise.resolve() },
    });
    const api = caller(world);
    const capacity = { vcpus: 4, memMib: 4096, diskGib: 10 };
    await api.call('PUT', '/nodes/node-1', { hostname: 'node-1', arch: 'x86_64', capacity });
    await api.call('PUT', '/nodes/node-2', { hostname: 'node-2', arch: 'x86_64', capacity });
    await api.call('POST', '/tenants', { id: 'acme' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await api.call('POST', '/tenants/acme/pools', pool);
    await api.call('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    const [instance] = await store().instances.list({ tenantId: 'acme' });
    if (!instance?.nodeId) throw new Error('acme/web has no placed instance');
    const key: InstanceKey = { tenantId: 'acme', poolId: 'web', instanceId: instance.id };
    return { world, notifier, counting, key, nodeId: instance.nodeId };
  }

  const report = (w: CoordinatorWorld, nodeId: string, key: InstanceKey, body: object) =>
    w.services.instances.report(nodeId, key, body as { status: Instance['status'] });

  it('writes nothing, opens no transaction and wakes no watcher; a changed one does', async () => {
    const { world, notifier, counting, key, nodeId } = await placed();
    await report(world, nodeId, key, { status: 'running' }); // created → running
    const held = await store().instances.get(key);
    const cursor = await store().instances.changeCursor();
    const before = { transactions: counting.transactions(), notified: notifier.current };
    const counter = name === 'postgres' ? countPgStatements() : undefined;

    const answer = await report(world, nodeId, key, { status: 'running' });
    await report(world, nodeId, key, { status: 'running', expectedStatus: 'running' });
    await report(world, nodeId, key, { status: 'running', revision: held?.revision ?? 'dev' });

    expect(answer).toEqual(held);
    // One read each, on Postgres counted at the driver: no BEGIN, lock or COMMIT.
    if (counter) expect(counter.count()).toBe(3);
    expect(counting.transactions()).toBe(before.transactions);
    expect(await store().instances.get(key)).toEqual(held);
    expect((await store().instances.changesSince(cursor)).changes).toEqual([]);
    expect(notifier.current).toBe(before.notified);

    // A real change: the instance moves (version, time), instance watchers see it.
    const failed = await report(world, nodeId, key, { status: 'failed', failureReason: 'oom' });
    expect(failed).toMatchObject({ status: 'failed', failureReason: 'oom' });
    expect(failed.version).toBeGreaterThan(held?.version ?? Infinity);
    expect(failed.updatedAt > (held?.updatedAt ?? '')).toBe(true);
    expect(counting.transactions()).toBe(before.transactions + 1);
    const seen = await store().instances.changesSince(cursor);
    expect(seen.changes.map((c) => c.instance)).toEqual([failed]);
    // The same failure again is unchanged; another reason is a change.
    await report(world, nodeId, key, { status: 'failed', failureReason: 'oom' });
    expect(counting.transactions()).toBe(before.transactions + 1);
    const other = await report(world, nodeId, key, { status: 'failed', failureReason: 'disk' });
    expect(other.failureReason).toBe('disk');
    expect(counting.transactions()).toBe(before.transactions + 2);
  });

  it('is refused as before from another node or on a status it did not expect', async () => {
    const { world, key, nodeId } = await placed();
    await report(world, nodeId, key, { status: 'running' });
    const held = await store().instances.get(key);
    const other = nodeId === 'node-1' ? 'node-2' : 'node-1';
    await expect(report(world, other, key, { status: 'running' })).rejects.toMatchObject({
      code: 'conflict',
    });
    await expect(
      report(world, nodeId, key, { status: 'running', expectedStatus: 'sleeping' }),
    ).rejects.toThrow();
    expect(await store().instances.get(key)).toEqual(held);
  });

  it('a destroyed instance meant to be destroyed is removed and wakes its node', async () => {
    const { world, notifier, key, nodeId } = await placed();
    const api = caller(world);
    await report(world, nodeId, key, { status: 'running' });
    await api.call('POST', `/tenants/acme/pools/web/instances/${key.instanceId}/actions`, {
      action: 'destroy',
    });
    const notified = notifier.current;
    await report(world, nodeId, key, { status: 'destroyed' });
    expect(await store().instances.get(key)).toBeUndefined();
    expect(notifier.current).toBeGreaterThan(notified);
  });
});
