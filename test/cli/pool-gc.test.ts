import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { PoolGcResult } from '../../src/cli/commands/pool/gc.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { InstanceView } from '../../src/contract/resources.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import {
  describeEachCoordinator,
  type InProcessCoordinator,
} from './support/in-process-coordinator.ts';
import { runIn, type CliRun } from './support/run-cli.ts';

/**
 * `mvm pool gc` against a real coordinator on SQLite and Postgres: a pool scaled down leaves
 * stopped instances (reported stopped by "the agent" one after another); the dry run lists
 * those beyond the retention and changes nothing; the real run destroys them through the
 * desired-status path (audited), oldest first, and keeps the rest.
 */
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function stoppedPool(c: InProcessCoordinator, mvm: (line: string) => Promise<CliRun>) {
  const token = (await readFile(join(c.dataDir, 'admin.token'), 'utf8')).trim();
  const api = createApiClient({ baseUrl: 'http://coordinator.test', token, fetch: c.fetch });
  await api.call('registerNode', {
    params: { node: 'node-a' },
    body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 16, memMib: 16384, diskGib: 50 } },
  });
  for (const line of [
    'tenant create acme --net-id 42',
    'pool create acme/web --flake . --profile minimal --cpus 1 --mem 256',
    'pool scale acme/web --running 5',
  ]) {
    expect((await mvm(line)).code, line).toBe(0);
  }
  const report = (i: InstanceView, status: string) =>
    api.call('reportInstanceStatus', {
      params: { node: 'node-a', tenant: 'acme', pool: 'web', instance: i.id },
      body: { status: status as InstanceView['status'] },
    });
  for (const i of await list(api)) await report(i, 'running');
  expect((await mvm('pool scale acme/web --running 1')).code).toBe(0);
  const stopped = (await list(api)).filter((i) => i.desiredStatus === 'stopped');
  expect(stopped).toHaveLength(4);
  // They stop one after another: the first in this order stopped longest ago.
  for (const i of stopped) {
    await sleep(15);
    await report(i, 'stopped');
  }
  return { api, order: stopped.map((i) => i.id) };
}

async function list(api: ApiClient): Promise<InstanceView[]> {
  return api.call('listInstances', { query: { tenant: 'acme', pool: 'web' } });
}

await describeEachCoordinator('mvm pool gc', (coordinator) => {
  const mvm = (line: string) =>
    runIn(line.split(' '), {
      env: { MVM_DATA_DIR: coordinator().dataDir },
      readText: readTextFile,
      defaultConfigFile: join(coordinator().dataDir, 'no-config.json'),
      fetch: coordinator().fetch,
    });
  const json = async (line: string): Promise<PoolGcResult> => {
    const run = await mvm(line);
    expect(run.stderr, line).toBe('');
    expect(run.code, line).toBe(0);
    return JSON.parse(run.stdout) as PoolGcResult;
  };

  it('lists on a dry run, then destroys the oldest stopped beyond the retention', async () => {
    const { api, order } = await stoppedPool(coordinator(), mvm);
    const before = await list(api);

    const dry = await json('pool gc acme/web --dry-run --json');
    expect(dry.retention).toEqual({ keep: 2 });
    expect(dry.destroyed.map((s) => s.id)).toEqual(order.slice(0, 2).reverse());
    expect(dry.kept.map((s) => s.id)).toEqual(order.slice(2).reverse());
    expect(dry.revisions).toEqual({
      current: null,
      inUse: [{ revision: 'dev', instances: 3, current: true }],
      history: false,
    });
    expect(await list(api)).toEqual(before);
    const human = (await mvm('pool gc acme/web --dry-run')).stdout;
    expect(human).toContain('acme/web: would destroy 2 stopped instance(s)');
    expect(human).toContain('the coordinator keeps no revision history');
    expect(human).toMatch(new RegExp(`^${order[0] ?? '?'}\\s+stopped\\s+\\S+\\s+destroy$`, 'm'));

    const real = await json('pool gc acme/web --keep 1 --json');
    expect(real.destroyed.map((s) => s.id)).toEqual(order.slice(0, 3).reverse());
    expect(real.kept.map((s) => s.id)).toEqual([order[3]]);
    const after = new Map((await list(api)).map((i) => [i.id, i.desiredStatus]));
    for (const id of order.slice(0, 3)) expect(after.get(id)).toBe('destroyed');
    expect(after.get(order[3] ?? '')).toBe('stopped');
    expect([...after.values()].filter((d) => d === 'running')).toHaveLength(1);
    const events = JSON.parse((await mvm('events acme --json')).stdout) as Array<{
      action: string;
      target: string;
    }>;
    const destroys = events.filter((e) => e.action === 'instance.destroy').map((e) => e.target);
    expect(destroys.sort()).toEqual(
      order
        .slice(0, 3)
        .map((id) => `acme/web/${id}`)
        .sort(),
    );

    // Stopped moments ago: an age retention keeps the last one; a second run is a no-op.
    expect((await json('pool gc acme/web --older-than 1h --json')).destroyed).toEqual([]);
    expect((await json('pool gc acme/web --keep 1 --json')).destroyed).toEqual([]);
  }, 30_000);

  it('refuses two retentions at once, and an unknown pool, changing nothing', async () => {
    const { api } = await stoppedPool(coordinator(), mvm);
    const before = await list(api);
    const both = await mvm('pool gc acme/web --keep 1 --older-than 1h');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('pass --keep or --older-than, not both');
    const missing = await mvm('pool gc acme/nope');
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("pool 'acme/nope' not found");
    expect(await list(api)).toEqual(before);
  }, 30_000);
});
