import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, LOST_AFTER_MS, START, type Fleet } from './node-health-harness.ts';

/**
 * What a replica keeps per node (its documents' state, its memory credit, its instances'
 * activity seen) is forgotten when the node is lost: at once on the replica that declares
 * the loss, at its next loss check on another.
 */

/** A heartbeat of `node` that says what its guests hold (a memory credit) and an activity. */
async function beat(fleet: Fleet, node: string, instances: unknown[] = []) {
  const answer = await fleet.call('POST', `/nodes/${node}/heartbeat`, {
    capacity: fleet.capacity(4),
    usage: { vcpus: 1, memMib: 512, heldMemMib: 256, instances: {}, diskFreeMib: 1000 },
    instances,
  });
  expect(answer.status).toBe(200);
}

await describeEachDatabase('a lost node is forgotten', ({ store }) => {
  it("drops the node's per-node state on the replica that declares it lost and on another", async () => {
    const fleet = await fleetOver(store());
    const other = await fleetOver(store());
    await fleet.registerNode('node-a', 4);
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    await fleet.ok('POST', '/tenants/acme/pools', {
      id: 'web',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 512,
    });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    await fleet.registerNode('node-b', 4);
    const [placed] = await fleet.instances();
    expect(placed?.nodeId).toBe('node-a');
    const sample = {
      tenant: 'acme',
      pool: 'web',
      instance: placed?.id,
      lastActiveAt: new Date(START).toISOString(),
    };
    for (const replica of [fleet, other]) {
      for (const node of ['node-a', 'node-b']) {
        await replica.services.desired.watch(node, 0, 0, { delta: true });
        await replica.services.desired.watch(node, 0, 0, { manifest: true });
      }
    }
    await beat(fleet, 'node-a', [sample]);
    await beat(fleet, 'node-b');
    await beat(other, 'node-a');
    for (const replica of [fleet, other]) {
      expect([...replica.services.desired.keptNodes()].sort()).toEqual(['node-a', 'node-b']);
    }

    // node-a falls silent; node-b keeps its heartbeats; the timeout passes on both replicas.
    for (const replica of [fleet, other]) replica.clock.advance(LOST_AFTER_MS / 2);
    await beat(fleet, 'node-b');
    // A check with nothing overdue: its sweep finds nothing to forget, and the next is not due
    // before the loss's (so the declaring replica forgets node-a at the loss itself).
    expect(await fleet.services.health.detectLost(new Date(START))).toEqual([]);
    expect(fleet.services.desired.keptNodes().has('node-a')).toBe(true);
    for (const replica of [fleet, other]) replica.clock.advance(LOST_AFTER_MS / 2 + 1);
    const losses = await fleet.services.health.detectLost(new Date(START));
    expect(losses.map((l) => l.nodeId)).toEqual(['node-a']);
    expect([...fleet.services.desired.keptNodes()]).toEqual(['node-b']);
    // The other replica still keeps it until its own check, which finds nothing overdue.
    expect(other.services.desired.keptNodes().has('node-a')).toBe(true);
    expect(await other.services.health.detectLost(new Date(START))).toEqual([]);
    expect([...other.services.desired.keptNodes()]).toEqual(['node-b']);

    // Nothing of node-a is left anywhere (forget answers how many per-node maps held it);
    // node-b, alive, is still kept (its document state, credit and the document caches).
    for (const replica of [fleet, other]) {
      expect(replica.services.health.forget('node-a')).toBe(0);
    }
    // Its document's five maps (the bases of deltas and of manifests among them), the pacer's,
    // the kept inputs, rows and entries, its credit.
    expect(fleet.services.health.forget('node-b')).toBe(10);
  });
});
