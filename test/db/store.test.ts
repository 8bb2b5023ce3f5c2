import { expect, it } from 'vitest';
import { ConflictError } from '../../src/core/errors.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { openDatabase, openStore } from '../../src/db/open-store.ts';
import { T1, pool, tenant } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

function recordingLogger() {
  const lines: Array<{ context: object; message: string | undefined }> = [];
  const ignore = (): void => undefined;
  return {
    lines,
    info: (context: object, message?: string) => void lines.push({ context, message }),
    debug: ignore,
    warn: ignore,
    error: ignore,
  };
}

await describeEachDatabase('store', ({ name, store, url, reopen, fresh }) => {
  it('reports its dialect', () => {
    expect(store().dialect).toBe(name);
  });

  it('commits a transaction that resolves', async () => {
    const result = await store().transaction(async (repos) => {
      await repos.tenants.insert(tenant());
      await repos.pools.insert(pool());
      return repos.pools.get('acme', 'workers');
    });
    expect(result).toEqual(pool());
    expect(await store().pools.get('acme', 'workers')).toEqual(pool());
  });

  it('rolls back everything a throwing transaction did', async () => {
    await store().tenants.insert(tenant('acme', 1));
    const failing = store().transaction(async (repos) => {
      await repos.tenants.update('acme', { quotas: { ...tenant().quotas, maxPools: 1 } }, 1, T1);
      await repos.tenants.insert(tenant('beta', 2));
      await repos.tenants.insert(tenant('gamma', 2)); // duplicate net id: throws
    });
    await expect(failing).rejects.toThrow(ConflictError);
    expect(await store().tenants.list()).toEqual([tenant('acme', 1)]);
  });

  it('keeps its data across close and reopen', async () => {
    await store().tenants.insert(tenant());
    await store().pools.insert(pool());
    await store().close();
    const again = await reopen();
    expect(await again.tenants.get('acme')).toEqual(tenant());
    expect(await again.pools.list()).toEqual([pool()]);
  });

  it('migrates a new database once and then does nothing', async () => {
    const empty = await fresh();
    const first = recordingLogger();
    await (await openStore(empty.url, { logger: first })).close();
    expect(first.lines.map((l) => l.message)).toEqual([
      ...Array<string>(37).fill('applied store migration'),
      'store opened',
    ]);
    expect(first.lines[0]?.context).toEqual({ dialect: name, migration: '0001-initial' });
    expect(first.lines[1]?.context).toEqual({
      dialect: name,
      migration: '0002-desired-generations',
    });
    expect(first.lines[2]?.context).toEqual({ dialect: name, migration: '0003-node-join' });
    expect(first.lines[3]?.context).toEqual({ dialect: name, migration: '0004-fleet-health' });
    expect(first.lines[4]?.context).toEqual({ dialect: name, migration: '0005-pool-sleep-policy' });
    expect(first.lines[5]?.context).toEqual({ dialect: name, migration: '0006-pressure-sleep' });
    expect(first.lines[6]?.context).toEqual({ dialect: name, migration: '0007-tokens' });
    expect(first.lines[7]?.context).toEqual({ dialect: name, migration: '0008-secrets' });
    expect(first.lines[8]?.context).toEqual({
      dialect: name,
      migration: '0009-pool-config-egress',
    });
    expect(first.lines[9]?.context).toEqual({ dialect: name, migration: '0010-node-reports' });
    expect(first.lines[10]?.context).toEqual({
      dialect: name,
      migration: '0011-instance-sleep-force',
    });
    expect(first.lines[11]?.context).toEqual({ dialect: name, migration: '0012-revisions' });
    expect(first.lines[12]?.context).toEqual({ dialect: name, migration: '0013-jobs' });
    expect(first.lines[13]?.context).toEqual({ dialect: name, migration: '0014-rollouts' });
    expect(first.lines[14]?.context).toEqual({ dialect: name, migration: '0015-job-effects' });
    expect(first.lines[15]?.context).toEqual({ dialect: name, migration: '0016-idle-policy' });
    expect(first.lines[16]?.context).toEqual({
      dialect: name,
      migration: '0017-rollout-previous',
    });
    expect(first.lines[17]?.context).toEqual({ dialect: name, migration: '0018-queue-scale' });
    expect(first.lines[18]?.context).toEqual({ dialect: name, migration: '0019-node-allocations' });
    expect(first.lines[19]?.context).toEqual({ dialect: name, migration: '0020-instance-moves' });
    expect(first.lines[20]?.context).toEqual({ dialect: name, migration: '0021-session-tickets' });
    expect(first.lines[21]?.context).toEqual({ dialect: name, migration: '0022-published-ports' });
    expect(first.lines[22]?.context).toEqual({ dialect: name, migration: '0024-queue-quota' });
    expect(first.lines[23]?.context).toEqual({
      dialect: name,
      migration: '0025-pool-worker-settings',
    });
    expect(first.lines[24]?.context).toEqual({ dialect: name, migration: '0026-moves-drain' });
    expect(first.lines[25]?.context).toEqual({
      dialect: name,
      migration: '0028-instance-changes',
    });
    expect(first.lines[26]?.context).toEqual({ dialect: name, migration: '0032-move-targets' });
    expect(first.lines[27]?.context).toEqual({
      dialect: name,
      migration: '0033-tombstone-horizon',
    });
    expect(first.lines[28]?.context).toEqual({ dialect: name, migration: '0034-report-deltas' });
    expect(first.lines[29]?.context).toEqual({
      dialect: name,
      migration: '0035-allocations-by-tenant',
    });
    expect(first.lines[30]?.context).toEqual({ dialect: name, migration: '0037-node-loads' });
    expect(first.lines[31]?.context).toEqual({
      dialect: name,
      migration: '0041-relief-and-holders',
    });
    expect(first.lines[32]?.context).toEqual({ dialect: name, migration: '0042-mark-changes' });
    expect(first.lines[33]?.context).toEqual({
      dialect: name,
      migration: '0046-move-reservations',
    });
    expect(first.lines[34]?.context).toEqual({ dialect: name, migration: '0048-lowered-at' });
    expect(first.lines[35]?.context).toEqual({ dialect: name, migration: '0049-toggle-cost' });
    expect(first.lines[36]?.context).toEqual({ dialect: name, migration: '0050-scale-members' });

    const second = recordingLogger();
    await (await openStore(empty.url, { logger: second })).close();
    expect(second.lines.map((l) => l.message)).toEqual(['store opened']);

    const { db, dialect } = openDatabase(url());
    try {
      expect(await migrateToLatest(db, dialect)).toEqual([]);
    } finally {
      await db.destroy();
    }
  });

  it('lets exactly one of many concurrent compare-and-sets with the same version win', async () => {
    await store().tenants.insert(tenant());
    const other = await reopen();
    const attempts = Array.from({ length: 8 }, (_, i) =>
      (i % 2 === 0 ? store() : other).tenants.update(
        'acme',
        { quotas: { ...tenant().quotas, maxPools: i } },
        1,
        T1,
      ),
    );
    const results = await Promise.allSettled(attempts);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const r of lost) expect(r.reason).toBeInstanceOf(ConflictError);
    expect((await store().tenants.get('acme'))?.version).toBe(2);
  });
});
