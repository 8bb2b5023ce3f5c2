import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceMoveView } from '../../src/contract/moves.ts';
import type { InstanceView, NodeView } from '../../src/contract/resources.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { cliLines } from './support/cli-lines.ts';
import {
  startInProcessCoordinator,
  type InProcessCoordinator,
} from './support/in-process-coordinator.ts';

let coordinator: InProcessCoordinator;
let api: ApiClient;
const { mvm, ok, fails, json } = cliLines(() => coordinator);

const register = (node: string) =>
  api.call('registerNode', {
    params: { node },
    body: { hostname: node, arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 50 } },
  });

const keyOf = (i: InstanceView) => `${i.tenantId}/${i.poolId}/${i.id}`;
let sleepers: InstanceView[] = [];
let pinned: InstanceView;

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  const token = (await readFile(join(coordinator.dataDir, 'admin.token'), 'utf8')).trim();
  api = createApiClient({ baseUrl: 'http://coordinator.test', token, fetch: coordinator.fetch });
  await register('node-a');
  await ok('mvm tenant create acme --net-id 42');
  await ok('mvm pool create acme/web --flake . --profile minimal --cpus 1 --mem 256');
  await ok('mvm pool create acme/db --flake . --profile minimal --cpus 1 --mem 256 --pinned');
  await ok('mvm pool scale acme/web --sleeping 3');
  await ok('mvm pool scale acme/db --sleeping 1');
  for (const i of await json<InstanceView[]>('mvm instance list --json')) {
    await api.call('reportInstanceStatus', {
      params: { node: 'node-a', tenant: i.tenantId, pool: i.poolId, instance: i.id },
      body: { status: 'sleeping' },
    });
  }
  const all = await json<InstanceView[]>('mvm instance list --json');
  sleepers = all.filter((i) => i.poolId === 'web');
  pinned = all.find((i) => i.poolId === 'db') as InstanceView;
  await register('node-b');
});
afterAll(async () => {
  await coordinator.close();
});

describe('mvm instance move, mvm node drain', () => {
  it('asks for a move and shows it; refuses bad ones with a clear error', async () => {
    const first = sleepers[0] as InstanceView;
    const move = await json<InstanceMoveView>(
      `mvm instance move ${keyOf(first)} --node node-b --json`,
    );
    expect(move).toMatchObject({ step: 'requested', sourceNode: 'node-a', targetNode: 'node-b' });
    const text = await ok(`mvm instance move-status ${move.id}`);
    expect(text).toContain(keyOf(first));
    expect(text).toContain('requested');
    expect(await fails(`mvm instance move ${keyOf(first)} --node node-b`)).toContain(
      'already under way',
    );
    expect(await fails(`mvm instance move ${keyOf(pinned)} --node node-b`)).toContain(
      'its pool is pinned',
    );
    expect(await fails(`mvm instance move ${keyOf(first)}`)).toContain('missing --node');
    expect(
      await fails(`mvm instance move ${keyOf(sleepers[1] as InstanceView)} --node nope`),
    ).toContain("node 'nope' not found");
    expect(await fails('mvm instance move-status mv-nope')).toContain("move 'mv-nope' not found");
  });

  it('--wait follows a move to its end and fails when it failed', async () => {
    const second = sleepers[1] as InstanceView;
    const waiting = mvm(`mvm instance move ${keyOf(second)} --node node-b --wait`);
    let move: InstanceMoveView | undefined;
    for (let tries = 0; !move && tries < 200; tries += 1) {
      const early = await Promise.race([waiting, new Promise((r) => setImmediate(r, undefined))]);
      if (early) throw new Error(`the command ended first: ${JSON.stringify(early)}`);
      const moves = await api.call('nodeMoves', { params: { node: 'node-a' } });
      move = moves.find((m) => m.instanceId === second.id);
    }
    if (!move) throw new Error('the command asked for no move');
    const id = move.id;
    const report = (body: { kind: 'start' } | { kind: 'crashed'; reason: string }) =>
      api.call('reportMove', { params: { node: 'node-a', move: id }, body });
    await report({ kind: 'start' });
    for (let i = 0; i < 5; i += 1) await report({ kind: 'crashed', reason: `disk full ${i}` });
    const run = await waiting;
    expect(run.code).not.toBe(0);
    expect(run.stdout).toContain('exporting');
    expect(run.stderr).toContain('failed');
    expect(run.stderr).toContain('disk full 4');
  });

  it('drains a node: cordoned, the sleepers left move, the pinned one waits', async () => {
    const text = await ok('mvm node drain node-a');
    expect(text).toContain("node 'node-a' is cordoned");
    expect(text).toContain('its pool is pinned');
    expect((await json<NodeView>('mvm node info node-a --json')).status).toBe('cordoned');
    const again = await json<{ moves: InstanceMoveView[] }>('mvm node drain node-a --json');
    // The first sleeper's move is under way, the second's failed: both now have one.
    expect(again.moves.map((m) => m.instanceId).sort()).toEqual(sleepers.map((i) => i.id).sort());
    expect(again.moves.every((m) => m.targetNode === 'node-b' && m.step === 'requested')).toBe(
      true,
    );
  });
});
