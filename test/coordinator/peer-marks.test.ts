/**
 * A scale moves the tenant's document mark (every node listing the tenant recomputes) only
 * when the tenant's VXLAN peers move: a placement on a node holding none of its live
 * instances, or a destroy that takes its last one off a node (the scale's own check; a
 * scale down stops instances, which keep their place). Otherwise only the nodes whose
 * instances changed recompute (docs/scale.md).
 */
import { expect, it } from 'vitest';
import { nodeScope, tenantScope } from '../../src/core/document-marks.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, ok, tenantWithWeb, twoNodes } from './api-client-harness.ts';

await describeEachDatabase('peer marks', (db) => {
  it('moves the tenant mark only when the tenant gains or loses a node', async () => {
    const store = db.store();
    const api = await apiOver(store);
    await twoNodes(api, { vcpus: 8, memMib: 8192, diskGib: 100 });
    await tenantWithWeb(api, 'acme');
    const tenantMark = () => store.generations.marks([tenantScope('acme')]);
    const nodeMarks = () => store.generations.marks([nodeScope('node-1'), nodeScope('node-2')]);
    const nodesHolding = async () =>
      new Set(
        (
          (await ok(api, 'GET', '/instances?tenant=acme')) as Array<{
            nodeId: string | null;
            desiredStatus: string;
          }>
        )
          .filter((i) => i.desiredStatus !== 'destroyed')
          .map((i) => i.nodeId)
          .filter((n) => n !== null),
      ).size;

    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 1 });
    const first = await tenantMark();
    // The second instance spreads to the other node: the tenant's peers moved everywhere.
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2 });
    expect(await nodesHolding()).toBe(2);
    const spread = await tenantMark();
    expect(spread).toBeGreaterThan(first);

    // Two more land on nodes that already hold the tenant: those nodes' documents move, the
    // tenant's (every node listing it) does not.
    const nodesBefore = await nodeMarks();
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 4 });
    expect(await tenantMark()).toBe(spread);
    expect(await nodeMarks()).toBeGreaterThan(nodesBefore);

    // Down to one: the others stop but stay live on their nodes (a stopped instance keeps
    // its place, so the peers stay); only their nodes' documents move.
    const beforeStop = await nodeMarks();
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 1 });
    expect(await tenantMark()).toBe(spread);
    expect(await nodeMarks()).toBeGreaterThan(beforeStop);
  });
});
