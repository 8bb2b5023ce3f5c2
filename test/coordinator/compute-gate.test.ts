/**
 * Document computations are gated (desired/compute-gate.ts): a wake of every watcher at once
 * computes at most `maxComputing` documents at a time, in arrival order, and every watcher
 * still gets its document. A computation that delivers nothing signs nothing. The service
 * part runs on SQLite and Postgres.
 */
import { describe, expect, it } from 'vitest';
import { ChangeNotifier } from '../../src/coordinator/desired/change-notifier.ts';
import { ComputeGate } from '../../src/coordinator/desired/compute-gate.ts';
import { ephemeralSigningKey } from '../../src/coordinator/desired/signing-key.ts';
import { DesiredService } from '../../src/coordinator/services/desired-service.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, expectOk as ok, fixedClock } from './api-client-harness.ts';
import { overriding } from '../support/store-proxy.ts';

describe('compute gate', () => {
  it('runs at most `limit` at once, in arrival order, and hands on failures', async () => {
    const gate = new ComputeGate(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, n) =>
        gate.run(async () => {
          started.push(n);
          running += 1;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 5));
          running -= 1;
          if (n === 4) throw new Error('boom');
          return n;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(gate.peakActive).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual([
      0,
      1,
      2,
      3,
      'failed',
      5,
      6,
      7,
      8,
      9,
    ]);
    // A failure released its slot: the gate still runs work.
    expect(await gate.run(async () => 'after')).toBe('after');
  });

  it('serves background work only when no other work waits', async () => {
    const gate = new ComputeGate(1);
    const order: string[] = [];
    let release = () => {};
    const first = gate.run(() => new Promise<void>((r) => (release = r)));
    const queued = [
      gate.run(async () => void order.push('refresh-1'), { background: true }),
      gate.run(async () => void order.push('change-1')),
      gate.run(async () => void order.push('refresh-2'), { background: true }),
      gate.run(async () => void order.push('change-2')),
    ];
    release();
    await Promise.all([first, ...queued]);
    expect(order).toEqual(['change-1', 'change-2', 'refresh-1', 'refresh-2']);
  });

  it('refuses a limit below one', () => {
    expect(() => new ComputeGate(0)).toThrow(RangeError);
  });
});

await describeEachDatabase('desired documents computed through the gate', (db) => {
  it('computes every node’s document, never two at once with a limit of one', async () => {
    const store = db.store();
    const api = await apiOver(store);
    const capacity = { vcpus: 64, memMib: 262144, diskGib: 100 };
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
    for (const [k, id] of nodes.entries()) {
      const body = { hostname: id, arch: 'x86_64', capacity, underlayIp: `192.0.2.${k + 1}` };
      await ok(api, 'PUT', `/nodes/${id}`, body);
    }
    await ok(api, 'POST', '/tenants', { id: 'acme', netId: 7, subnet: '10.240.7.0/24' });
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };
    await ok(api, 'POST', '/tenants/acme/pools', pool);
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 12 });

    const service = new DesiredService({
      store,
      clock: fixedClock,
      signingKey: ephemeralSigningKey(),
      notifier: new ChangeNotifier(),
      maxComputing: 1,
    });
    const issued = await Promise.all(nodes.map((id) => service.issue(id)));
    expect(service.peakComputing).toBe(1);
    const placed = issued.map((doc) => {
      const body = JSON.parse(doc.envelope.payload) as NodeDesired;
      return body.tenants.flatMap((t) => t.pools.flatMap((p) => p.instances.map((i) => i.id)));
    });
    // Every instance is in exactly one node's document.
    expect(placed.flat().sort()).toHaveLength(12);
    expect(new Set(placed.flat()).size).toBe(12);
  });

  it('signs a document only when it is delivered', async () => {
    const store = db.store();
    const api = await apiOver(store);
    const capacity = { vcpus: 64, memMib: 262144, diskGib: 100 };
    await ok(api, 'PUT', '/nodes/n1', { hostname: 'n1', arch: 'x86_64', capacity });
    const key = ephemeralSigningKey();
    let signed = 0;
    const counting = {
      ...key,
      sign: (payload: string) => {
        signed += 1;
        return key.sign(payload);
      },
    };
    const notifier = new ChangeNotifier();
    let computed = 0;
    const reads = overriding(store, {
      get instances() {
        computed += 1;
        return store.instances;
      },
    });
    const service = new DesiredService({
      store: reads,
      clock: fixedClock,
      signingKey: counting,
      notifier,
      pollMs: 20,
    });
    const first = await service.issue('n1');
    expect(signed).toBe(0);
    // Delivered to a watcher that holds nothing yet: signed once.
    const delivered = await service.watch('n1', 0, 1000);
    expect(signed).toBe(1);
    expect('payload' in delivered && JSON.parse(delivered.payload)).toMatchObject({
      nodeId: 'n1',
      generation: first.generation,
    });
    // A watcher that holds this generation, woken by a change that left its document as it
    // was, recomputes it, delivers and signs nothing.
    const before = computed;
    notifier.notify({ nodes: ['n1'] });
    const unchanged = await service.watch('n1', first.generation, 100);
    expect(unchanged).toEqual({ unchanged: true, generation: first.generation });
    expect(computed).toBeGreaterThan(before);
    expect(signed).toBe(1);
    // Read twice, signed once.
    const again = await service.issue('n1');
    expect(again.envelope).toBe(again.envelope);
    expect(signed).toBe(2);
  });
});
