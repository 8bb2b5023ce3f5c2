/**
 * `mvm status` and `mvm node info` without an id (seed 002 §2): this host's node is the one
 * `mvm add host` registers, by the id it takes from the host name; each part of the status
 * answers on its own, so a part that is down is named, not fatal.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeIdFromHostname } from '../../src/agent/join/host-facts.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { StatusView } from '../../src/cli/commands/status/status.ts';
import { startInProcessCoordinator } from './support/in-process-coordinator.ts';
import type { InProcessCoordinator } from './support/in-process-coordinator.ts';
import { runIn } from './support/run-cli.ts';

let coordinator: InProcessCoordinator;
beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
});
afterAll(async () => {
  await coordinator.close();
});

const mvm = (argv: string[], fetchable = true) =>
  runIn(argv, {
    env: { MVM_DATA_DIR: coordinator.dataDir },
    readText: readTextFile,
    defaultConfigFile: join(coordinator.dataDir, 'no-config.json'),
    ...(fetchable ? { fetch: coordinator.fetch } : {}),
  });

describe('mvm status and node info of this host', () => {
  const self = nodeIdFromHostname(hostname());

  it('names what is down: no node registered, no agent serving', async () => {
    const run = await mvm(['status', '--json']);
    expect(run.code).toBe(0);
    const view = JSON.parse(run.stdout) as StatusView;
    expect(view.coordinator).toMatchObject({ up: true, version: 'test' });
    expect(view.node).toEqual({ id: self, registered: false });
    expect(view.agent).toMatchObject({
      up: false,
      socket: join(coordinator.dataDir, 'agent.sock'),
    });
    expect(view.agent.error).toMatch(/mvm agent serve/);
    const human = await mvm(['status']);
    expect(human.stdout).toMatch(
      new RegExp(`node: +${self}: not registered \\(run 'mvm add host'\\)`),
    );
    const missing = await mvm(['node', 'info']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain(`'${self}'`);
  });

  it('shows the registered node, by the id mvm add host gives it', async () => {
    const capacity = { vcpus: 2, memMib: 2048, diskGib: 10 };
    const body = JSON.stringify({ hostname: hostname(), arch: 'x86_64', capacity });
    const token = readTextFile(join(coordinator.dataDir, 'admin.token'))?.trim() ?? '';
    const registered = await coordinator.fetch(
      new Request(`http://coordinator/v1/nodes/${self}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      }),
    );
    expect(registered.status).toBeLessThan(300);
    const info = await mvm(['node', 'info', '--json']);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ id: self, capacity, status: 'ready' });
    const view = JSON.parse((await mvm(['status', '--json'])).stdout) as StatusView;
    expect(view.node).toMatchObject({ id: self, registered: true, status: 'ready' });
  });

  it('says the coordinator is unreachable without failing', async () => {
    const run = await mvm(['--coordinator', 'http://127.0.0.1:1', 'status', '--json'], false);
    expect(run.code).toBe(0);
    const view = JSON.parse(run.stdout) as StatusView;
    expect(view.coordinator).toMatchObject({ up: false, url: 'http://127.0.0.1:1' });
    expect(view.coordinator.error).toMatch(/cannot reach the coordinator/);
  });
});
