import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrainActionView } from '../../src/contract/moves.ts';
import type { InstanceView, NodeView } from '../../src/contract/resources.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { cliLines } from './support/cli-lines.ts';
import {
  startInProcessCoordinator,
  type InProcessCoordinator,
} from './support/in-process-coordinator.ts';

let coordinator: InProcessCoordinator;
let api: ApiClient;
const { mvm, ok, json } = cliLines(() => coordinator);

const register = (node: string, vcpus: number) =>
  api.call('registerNode', {
    params: { node },
    body: {
      hostname: node,
      arch: 'x86_64',
      capacity: { vcpus, memMib: vcpus * 1024, diskGib: 50 },
    },
  });

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  const token = (await readFile(join(coordinator.dataDir, 'admin.token'), 'utf8')).trim();
  api = createApiClient({ baseUrl: 'http://coordinator.test', token, fetch: coordinator.fetch });
  await register('node-a', 4);
  await ok('mvm tenant create acme --net-id 42');
  await ok('mvm pool create acme/web --flake . --profile minimal --cpus 1 --mem 256');
  await ok('mvm pool create acme/db --flake . --profile minimal --cpus 1 --mem 256 --pinned');
  await ok('mvm pool scale acme/web --running 2');
  await ok('mvm pool scale acme/db --running 1');
});
afterAll(async () => {
  await coordinator.close();
});

describe('mvm node cordon|uncordon|drain-plan', () => {
  it('cordons and uncordons a node, idempotently', async () => {
    const text = await ok('mvm node cordon node-a');
    expect(text).toContain("node 'node-a' is cordoned");
    expect((await json<NodeView>('mvm node cordon node-a --json')).status).toBe('cordoned');
    expect((await json<NodeView>('mvm node info node-a --json')).status).toBe('cordoned');
    await register('node-b', 4);
    await ok('mvm pool scale acme/web --running 3');
    const third = (await json<InstanceView[]>('mvm instance list --json')).filter(
      (i) => i.poolId === 'web' && i.nodeId === 'node-b',
    );
    expect(third).toHaveLength(1);
    expect(await ok('mvm node uncordon node-a')).toContain("node 'node-a' is ready");
  });

  it('shows what a drain would do, changing nothing', async () => {
    const before = await json<InstanceView[]>('mvm instance list --json');
    const plan = await json<DrainActionView[]>('mvm node drain-plan node-a --json');
    const onA = before.filter((i) => i.nodeId === 'node-a');
    expect(plan.map((a) => a.key).sort()).toEqual(
      onA.map((i) => `${i.tenantId}/${i.poolId}/${i.id}`).sort(),
    );
    const db = plan.find((a) => a.key.startsWith('acme/db/'));
    expect(db).toMatchObject({ kind: 'wait', reason: 'its pool is pinned to this node' });
    // Never reported running by an agent: they never booted, so they are re-placed.
    expect(
      plan.filter((a) => a.key.startsWith('acme/web/')).every((a) => a.kind === 'replace'),
    ).toBe(true);
    const text = await ok('mvm node drain-plan node-a');
    expect(text).toContain('its pool is pinned to this node');
    expect(text).toContain('nothing was changed');
    expect(await json<InstanceView[]>('mvm instance list --json')).toEqual(before);
  });

  it('refuses an unknown node with a clear error', async () => {
    for (const line of [
      'mvm node cordon nope',
      'mvm node uncordon nope',
      'mvm node drain-plan nope',
    ]) {
      const run = await mvm(line);
      expect(run.code, line).not.toBe(0);
      expect(run.stderr, line).toContain("node 'nope' not found");
    }
  });
});
