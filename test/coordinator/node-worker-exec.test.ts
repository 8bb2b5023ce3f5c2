/**
 * A node's heartbeats say whether it wakes on connect and runs worker exec; the node view
 * shows both, and `mvm new openclaw` chooses the worker sandbox by itself from that list
 * (core/worker-sandbox-default.ts) only when every ready node runs worker exec.
 */
import { expect, it } from 'vitest';
import { workerSandboxDefault, type SandboxNode } from '../../src/core/worker-sandbox-default.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, type Api, expectOk } from './api-client-harness.ts';

const capacity = { vcpus: 8, memMib: 8192, diskGib: 100 };
const usage = { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1_000 };

async function beat(api: Api, node: string, extra: Record<string, unknown>): Promise<number> {
  const response = await api.call('POST', `/nodes/${node}/heartbeat`, {
    body: { capacity, usage: { ...usage, ...extra }, instances: [] },
  });
  return response.status;
}

await describeEachDatabase('worker exec in node heartbeats', (db) => {
  it('shows what each node runs, and the sandbox is chosen only when every ready node has it', async () => {
    const api = await apiOver(db.store());
    for (const node of ['n1', 'n2']) {
      await expectOk(api, 'PUT', `/nodes/${node}`, {
        hostname: `${node}.test`,
        arch: 'x86_64',
        capacity,
      });
    }
    expect(await beat(api, 'n1', { workerExec: true, wakeOnConnect: true })).toBe(200);
    expect(await beat(api, 'n2', {})).toBe(200);
    expect(await expectOk(api, 'GET', '/nodes/n1')).toMatchObject({
      usage: { workerExec: true, wakeOnConnect: true },
    });
    const nodes = async () => (await expectOk(api, 'GET', '/nodes')) as SandboxNode[];
    expect(workerSandboxDefault(await nodes())).toEqual({
      on: false,
      why: 'worker exec is off on 1 ready node(s): n2',
    });
    expect(await beat(api, 'n2', { workerExec: true })).toBe(200);
    expect(workerSandboxDefault(await nodes())).toMatchObject({ on: true });
    // A bad value is refused and changes nothing.
    expect(await beat(api, 'n2', { workerExec: 'yes' })).toBe(400);
    expect(await expectOk(api, 'GET', '/nodes/n2')).toMatchObject({ usage: { workerExec: true } });
  });
});
