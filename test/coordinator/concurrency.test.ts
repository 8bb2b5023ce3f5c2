import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, type Api } from './api-client-harness.ts';
import {
  burst,
  createPool,
  createTenant,
  desiredRunning,
  expectInvariants,
  instancesOf,
  unexpected,
  type Outcome,
} from './concurrency-harness.ts';

/**
 * The races of issue 10, each as a burst of concurrent requests against one coordinator: on
 * Postgres (read committed, a pool of sessions) they exceeded quotas and failed valid requests
 * until every change of a tenant's intent took its tenant's lock. SQLite must hold the same.
 * A node is registered so that every write is followed by a real placement pass.
 */
const quotaRefused = (o: Outcome) => o.status === 422 && o.code === 'quota_exceeded';

async function setUp(api: Api): Promise<void> {
  const node = await api.call('PUT', '/nodes/node-1', {
    body: {
      hostname: 'node-1.test',
      arch: 'x86_64',
      capacity: { vcpus: 4096, memMib: 4_194_304, diskGib: 100_000 },
    },
  });
  expect(node.status).toBe(200);
}

function scale(api: Api, tenant: string, pool: string, counts: Record<string, number>) {
  return () => api.call('POST', `/tenants/${tenant}/pools/${pool}/scale`, { body: counts });
}

await describeEachDatabase('concurrent clients', (db) => {
  it('never exceed max-running with concurrent scales of two pools', async () => {
    const api = await apiOver(db.store());
    await setUp(api);
    await createTenant(api, 'q', { maxRunning: 4 });
    await createPool(api, 'q', 'pa');
    await createPool(api, 'q', 'pb');
    for (let round = 0; round < 4; round += 1) {
      for (const pool of ['pa', 'pb']) await scale(api, 'q', pool, { running: 0 })();
      const outcomes = await burst(
        Array.from({ length: 50 }, (_, i) => {
          const pool = i % 2 === 0 ? 'pa' : 'pb';
          const running = ((i + round) % 4) + 1;
          return [`scale ${pool} ${running}`, scale(api, 'q', pool, { running })] as const;
        }),
      );
      expect(await desiredRunning(api, 'q')).toBeLessThanOrEqual(4);
      await expectInvariants(api);
      expect(unexpected(outcomes, quotaRefused)).toEqual([]);
    }
  });

  it('never create more pools than max-pools', async () => {
    const api = await apiOver(db.store());
    await setUp(api);
    await createTenant(api, 'q', { maxPools: 3 });
    const outcomes = await burst(
      Array.from({ length: 20 }, (_, i) => [
        `create p${i}`,
        () =>
          api.call('POST', '/tenants/q/pools', {
            body: { id: `p${i}`, flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 },
          }),
      ]),
    );
    expect(unexpected(outcomes, quotaRefused)).toEqual([]);
    expect(outcomes.filter((o) => o.status === 201)).toHaveLength(3);
    await expectInvariants(api);
  });

  it('never start more instances than max-running with concurrent start actions', async () => {
    const api = await apiOver(db.store());
    await setUp(api);
    await createTenant(api, 'q', { maxRunning: 4 });
    await createPool(api, 'q', 'pa');
    expect((await scale(api, 'q', 'pa', { sleeping: 12 })()).status).toBe(200);
    const ids = (await instancesOf(api, 'q')).map((i) => String(i.id));
    expect(ids).toHaveLength(12);
    const act = (id: string, action: string) => () =>
      api.call('POST', `/tenants/q/pools/pa/instances/${id}/actions`, { body: { action } });
    for (let round = 0; round < 3; round += 1) {
      const outcomes = await burst(ids.map((id) => [`start ${id}`, act(id, 'start')] as const));
      expect(unexpected(outcomes, quotaRefused)).toEqual([]);
      expect(outcomes.filter((o) => o.status === 200)).toHaveLength(4);
      expect(await desiredRunning(api, 'q')).toBe(4);
      for (const id of ids) await act(id, 'stop')();
    }
    await expectInvariants(api);
  });

  it('keeps a lowered max-running while scale-ups run', async () => {
    const api = await apiOver(db.store());
    await setUp(api);
    await createTenant(api, 'q', { maxRunning: 8 });
    await createPool(api, 'q', 'pa');
    await createPool(api, 'q', 'pb');
    for (let round = 0; round < 4; round += 1) {
      for (const pool of ['pa', 'pb']) await scale(api, 'q', pool, { running: 0 })();
      const raised = await api.call('PATCH', '/tenants/q', { body: { quotas: { maxRunning: 8 } } });
      expect(raised.status).toBe(200);
      const lower = [
        'lower to 1',
        () => api.call('PATCH', '/tenants/q', { body: { quotas: { maxRunning: 1 } } }),
      ] as const;
      const ups = Array.from({ length: 12 }, (_, i) => {
        const pool = i % 2 === 0 ? 'pa' : 'pb';
        return [`scale ${pool}`, scale(api, 'q', pool, { running: (i % 4) + 1 })] as const;
      });
      const outcomes = await burst([...ups.slice(0, 3), lower, ...ups.slice(3)]);
      await expectInvariants(api);
      expect(unexpected(outcomes, quotaRefused)).toEqual([]);
    }
  });

  it('gives every concurrent tenant create without a net id its own network', async () => {
    const api = await apiOver(db.store());
    const outcomes = await burst(
      Array.from({ length: 50 }, (_, i) => [
        `create t${i}`,
        () => api.call('POST', '/tenants', { body: { id: `t${i}` } }),
      ]),
    );
    expect(unexpected(outcomes, () => false)).toEqual([]);
    expect(outcomes.every((o) => o.status === 201)).toBe(true);
    await expectInvariants(api);
  });

  it('gives instances of two pools scaled at once distinct addresses', async () => {
    const api = await apiOver(db.store());
    await setUp(api);
    await createTenant(api, 'q', { maxRunning: 200, maxVcpus: 200, maxMemMib: 200_000 });
    await createPool(api, 'q', 'pa');
    await createPool(api, 'q', 'pb');
    for (let round = 1; round <= 6; round += 1) {
      const outcomes = await burst(
        ['pa', 'pb', 'pa', 'pb'].map(
          (pool, i) =>
            [`scale ${pool}`, scale(api, 'q', pool, { running: round * 2 + i })] as const,
        ),
      );
      expect(unexpected(outcomes, () => false)).toEqual([]);
    }
    await expectInvariants(api);
  });

  it('lets forced destroys win over racing scales, without 409 or 5xx', async () => {
    const api = await apiOver(db.store());
    await setUp(api);
    for (let round = 0; round < 4; round += 1) {
      const t = `f${round}`;
      await createTenant(api, t, { maxRunning: 64 });
      await createPool(api, t, 'pa');
      await createPool(api, t, 'pb');
      await createPool(api, t, 'pc');
      const scales = Array.from({ length: 12 }, (_, i) => {
        const pool = ['pa', 'pb', 'pc'][i % 3] ?? 'pa';
        return [`scale ${pool}`, scale(api, t, pool, { running: (i % 5) + 1 })] as const;
      });
      const outcomes = await burst([
        ...scales.slice(0, 6),
        ['destroy pool pc', () => api.call('DELETE', `/tenants/${t}/pools/pc?force=true`)],
        ...scales.slice(6, 9),
        ['destroy tenant', () => api.call('DELETE', `/tenants/${t}?force=true`)],
        ...scales.slice(9),
      ]);
      // A request that comes after a destroy finds nothing: its own merit, a 404.
      const gone = (o: Outcome) => o.label !== 'destroy tenant' && o.status === 404;
      expect(unexpected(outcomes, gone)).toEqual([]);
      expect(outcomes.find((o) => o.label === 'destroy tenant')?.status).toBe(200);
      expect(await instancesOf(api, undefined)).toEqual([]);
    }
    await expectInvariants(api);
  });

  it('leaves no live token behind a destroyed tenant, even one issued during the destroy', async () => {
    const api = await apiOver(db.store());
    for (let round = 0; round < 4; round += 1) {
      await createTenant(api, 'tk');
      const issued: string[] = [];
      const issue = (i: number) => async () => {
        const response = await api.call('POST', '/tenants/tk/tokens', { body: { name: `t${i}` } });
        if (response.status === 201) issued.push((response.body as { token: string }).token);
        return response;
      };
      const outcomes = await burst([
        ...Array.from({ length: 6 }, (_, i) => [`issue ${i}`, issue(i)] as const),
        ['destroy tenant', () => api.call('DELETE', '/tenants/tk?force=true')],
        ...Array.from({ length: 6 }, (_, i) => [`issue ${i + 6}`, issue(i + 6)] as const),
      ]);
      const gone = (o: Outcome) => o.label !== 'destroy tenant' && o.status === 404;
      expect(unexpected(outcomes, gone)).toEqual([]);
      // A tenant of the same name later must not be reachable with the old tenant's tokens.
      await createTenant(api, 'tk');
      for (const token of issued) {
        expect((await api.call('GET', '/tenants/tk', { token })).status).toBe(401);
      }
      expect((await api.call('DELETE', '/tenants/tk?force=true')).status).toBe(200);
    }
  });
});
