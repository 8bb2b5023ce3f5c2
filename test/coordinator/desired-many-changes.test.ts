import { describe, expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { countingComputations } from '../support/counting-computations.ts';
import { twoTenantsOnTwoNodes } from './support/two-tenants.ts';
import { apiOver, ok } from './api-client-harness.ts';

/**
 * More changes than the notifier ever kept whole (512): a watcher whose document none of them
 * concerned must not be told it may be concerned. It was, and at 20 scales a second every
 * watcher of the fleet recomputed at once each ~25 s, the changes that did concern a node queued
 * behind them (fleet-sim's p99 of scale to agent, 7.3 s at 1,000 nodes).
 */
const MANY = 600;

const generationOf = (body: unknown) =>
  (JSON.parse((body as { payload: string }).payload) as { generation: number }).generation;

/** Changes that name a node and a tenant no document here lists (other writes of the fleet). */
function elsewhere(notifier: ChangeNotifier, count: number): void {
  for (let i = 0; i < count; i += 1) notifier.notify({ nodes: ['node-9'], tenants: [`t${i}`] });
}

await describeEachDatabase('desired watchers after many changes elsewhere', (db) => {
  it('a change made as a watch times out reaches the next poll, and no other watcher computes', async () => {
    const notifier = new ChangeNotifier();
    const counting = countingComputations(db.store());
    // Each waiting watcher looks again every 40 ms: every look after the changes below would
    // have computed its document again.
    const api = await apiOver(counting.store, { notifier, desiredPollMs: 40 });
    const { a, b } = await twoTenantsOnTwoNodes(api);
    const held = new Map<string, number>();
    for (const node of [a.nodeId, b.nodeId]) {
      held.set(node, generationOf(await ok(api, 'GET', `/nodes/${node}/desired`)));
    }
    const heldA = held.get(a.nodeId) ?? 0;
    const other = api.call(
      'GET',
      `/nodes/${b.nodeId}/desired?after=${held.get(b.nodeId)}&waitMs=20000`,
    );
    // a's watch times out with nothing new for it.
    const timedOut = await api.call('GET', `/nodes/${a.nodeId}/desired?after=${heldA}&waitMs=100`);
    expect(timedOut.body).toEqual({ unchanged: true, generation: heldA });
    const before = { a: counting.computed(a.nodeId), b: counting.computed(b.nodeId) };

    // Between that answer and a's next poll: the fleet's other writes, then a's own change.
    elsewhere(notifier, MANY);
    await ok(api, 'POST', `/tenants/acme/pools/web/instances/${a.id}/actions`, { action: 'stop' });
    const next = await api.call('GET', `/nodes/${a.nodeId}/desired?after=${heldA}&waitMs=20000`);
    expect(generationOf(next.body)).toBe(heldA + 1);
    expect(counting.computed(a.nodeId)).toBe(before.a + 1);
    // b's watcher looked several times meanwhile and computed nothing: no change named it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(counting.computed(b.nodeId)).toBe(before.b);

    // And b's own change, after as many more, still wakes it.
    elsewhere(notifier, MANY);
    await ok(api, 'POST', `/tenants/beta/pools/web/instances/${b.id}/actions`, { action: 'stop' });
    expect(generationOf((await other).body)).toBe((held.get(b.nodeId) ?? 0) + 1);
    expect(counting.computed(b.nodeId)).toBe(before.b + 1);
  });

  it('a watcher waiting through many changes elsewhere computes nothing', async () => {
    const notifier = new ChangeNotifier();
    const counting = countingComputations(db.store());
    const api = await apiOver(counting.store, { notifier, desiredPollMs: 40 });
    const { a } = await twoTenantsOnTwoNodes(api);
    const held = generationOf(await ok(api, 'GET', `/nodes/${a.nodeId}/desired`));
    const watch = api.call('GET', `/nodes/${a.nodeId}/desired?after=${held}&waitMs=300`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = counting.computed(a.nodeId);
    elsewhere(notifier, MANY);
    expect((await watch).body).toEqual({ unchanged: true, generation: held });
    expect(counting.computed(a.nodeId)).toBe(before);
  });
});

describe('ChangeNotifier after more changes than it keeps whole', () => {
  const watched = { nodeId: 'node-1', tenants: ['acme'] };

  it('tells exactly which documents and tenants were named since a count', async () => {
    const notifier = new ChangeNotifier();
    notifier.notify({ tenants: ['acme'] });
    const since = notifier.current;
    elsewhere(notifier, MANY);
    expect(notifier.concernedSince(since, watched)).toBe(false);
    expect(notifier.named().tenantSince(since, 'acme')).toBe(false);
    expect(notifier.named().tenantSince(since, 't1')).toBe(true);
    expect(notifier.named().fleetSince(since)).toBe(false);
    // A wait from that count is not ended at once by changes it no longer sees whole.
    let woken = false;
    const wait = notifier.waitForChange(since, watched, 5_000).then(() => (woken = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(woken).toBe(false);
    notifier.notify({ nodes: ['node-1'] });
    await wait;
    expect(notifier.concernedSince(since, watched)).toBe(true);
    elsewhere(notifier, MANY);
    expect(notifier.concernedSince(since, watched)).toBe(true);
    notifier.notify({ fleet: true });
    expect(notifier.named().tenantSince(since, 'acme')).toBe(true);
  });

  it('says "may have" for a name whose record was dropped, and only for older counts', () => {
    const notifier = new ChangeNotifier();
    notifier.notify({ tenants: ['acme'] });
    const since = notifier.current;
    // More distinct names than it keeps (65,536): acme's record is dropped first.
    for (let i = 0; i < 70_000; i += 1) notifier.notify({ tenants: [`t${i}`] });
    expect(notifier.concernedSince(0, watched)).toBe(true);
    expect(notifier.named().tenantSince(since, 'acme')).toBe(true);
    const later = notifier.current;
    expect(notifier.concernedSince(later - 1, watched)).toBe(false);
    expect(notifier.named().tenantSince(later - 1, 'acme')).toBe(false);
  });
});
