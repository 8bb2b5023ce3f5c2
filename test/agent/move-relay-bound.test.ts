/**
 * The coordinator's relay holds a bounded part of a bundle (docs/moves.md): an in-process
 * coordinator on SQLite whose relay takes one part of a move at a time, and two in-process
 * agents' MoveWorkers carrying a stopped instance's data disk from node-a to node-b. The
 * source's upload of the next part waits, quietly, until the target has fetched the one held;
 * the relay never holds more than one part, and the disk arrives byte for byte. No guest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceDir } from '../../src/agent/runtime/layout.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../src/ports/logger.ts';
import type { Store } from '../../src/ports/store.ts';
import { ADMIN } from '../coordinator/api-client-harness.ts';
import type { Fleet } from '../coordinator/node-health-harness.ts';
import { closeMoveWorld, moveWorkerOf, startMoveWorld, stoppedOnNodeA } from './move-world.ts';

type Json = Record<string, unknown>;

const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('a move through a relay that holds one part at a time', () => {
  const dirs: string[] = [];
  const agents: Record<string, AgentHandle> = {};
  let store: Store | undefined;
  let fleet: Fleet;
  let relayDir: string;
  const warnings: string[] = [];
  const waits: string[] = [];
  const logger: Logger = {
    debug: (_o, msg) => void (msg === 'relay full; upload waits' && waits.push(msg)),
    info: () => undefined,
    warn: (_o, msg) => void warnings.push(msg ?? ''),
    error: (_o, msg) => void warnings.push(msg ?? ''),
  };

  beforeAll(async () => {
    const world = await startMoveWorld('mv3', dirs, { moveRelayMaxBytes: 1 });
    store = world.store;
    fleet = world.fleet;
    relayDir = join(world.work, 'relay');
    Object.assign(agents, world.agents);
  });

  afterAll(() => closeMoveWorld(agents, store, dirs));

  const workerOf = (node: string) =>
    moveWorkerOf(
      agents[node]!,
      node,
      createApiClient({
        baseUrl: 'http://coordinator.test',
        token: ADMIN,
        fetch: (request) => Promise.resolve(fleet.app.request(request)),
      }),
      logger,
    );

  it('uploads the next part once the target has the one held, and arrives whole', async () => {
    const { placed, path, disk } = await stoppedOnNodeA(fleet, agents['node-a']!, 46);
    await writeFile(disk, randomBytes(512 * 1024));
    const diskSha = await sha(disk);
    await fleet.registerNode('node-b', 4);
    const move = (await fleet.ok('POST', `${path}/move`, { node: 'node-b' })) as Json;
    const id = String(move.id);
    const step = async () => String(((await fleet.ok('GET', `/moves/${id}`)) as Json).step);

    const sourceWorker = workerOf('node-a');
    const targetWorker = workerOf('node-b');
    const held: number[] = [];
    for (let round = 0; round < 20 && (await step()) !== 'done'; round += 1) {
      await sourceWorker.pass();
      held.push((await readdir(join(relayDir, id)).catch(() => [])).length);
      await targetWorker.pass();
    }
    expect(await step()).toBe('done');
    const parts = ((await fleet.ok('GET', `/moves/${id}`)) as { parts: unknown[] }).parts;
    expect(parts.length).toBeGreaterThan(1);
    // One part at a time on the coordinator's disk, and the source waited for the target.
    expect(Math.max(...held)).toBe(1);
    expect(waits.length).toBeGreaterThan(0);
    expect(warnings.filter((w) => w.includes('move step failed'))).toEqual([]);
    const [moved] = await agents['node-b']!.runtime.list();
    expect(moved).toMatchObject({ status: 'stopped', spec: { ip: placed.ip, mac: placed.mac } });
    const arrived = join(
      instanceDir(agents['node-b']!.deps.layout, moved!.key),
      'drives',
      'data.ext4',
    );
    expect(await sha(arrived)).toBe(diskSha);
  }, 120_000);
});
