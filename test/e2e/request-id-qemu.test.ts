/**
 * One request id from `mvm pool scale` to a real guest (docs/api.md, "Request ids"): the CLI
 * (in-process) sends it, the coordinator logs the request under it and records it on the
 * instance it creates, the node's document carries it, a real agent (startAgent) logs its
 * reconcile of that instance under it and sends it to the guest agent in a QEMU guest (TCG),
 * which logs it on its console and echoes it in its answer, logged by the agent under the id.
 * A later `mvm instance sleep` does the same under its own id.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { agentDataDir, tcgVmm, testAgentConfig } from '../agent/agent-harness.ts';
import { cliAt } from '../support/exec-world.ts';
import { until } from '../support/until.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('request ids into a real guest');

const ADMIN = randomBytes(24).toString('hex');

interface Line {
  requestId?: string;
  msg?: string;
  method?: string;
  path?: string;
  status?: number;
  instance?: string;
  op?: string;
  echoed?: boolean;
  steps?: string[];
}

function memoryLogger(lines: Line[]) {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n'))
        if (text !== '') lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

async function consoleText(dir: string): Promise<string> {
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('console.log'));
  const texts = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8').catch(() => '')));
  return texts.join('\n');
}

describe.runIf(gate.run)('one request id from mvm pool scale into a real guest', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  let agent: AgentHandle;
  let api: ApiClient;
  let mvm: ReturnType<typeof cliAt>;
  const coordinatorLines: Line[] = [];
  const agentLines: Line[] = [];
  let instanceId = '';

  /** The id the coordinator logged for the one request to `path` with `method`. */
  const loggedId = (method: string, path: RegExp) => {
    const line = coordinatorLines.find(
      (l) => l.msg === 'request' && l.method === method && path.test(l.path ?? ''),
    );
    return line?.requestId;
  };

  beforeAll(async () => {
    dir = await agentDataDir('rqid');
    coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(dir, 'coordinator.sqlite'),
        clusterCidr: '10.240.0.0/12',
        adminToken: ADMIN,
        dataDir: join(dir, 'coordinator'),
      },
      { logger: memoryLogger(coordinatorLines) },
    );
    api = createApiClient({ baseUrl: coordinator.url, token: ADMIN, timeoutMs: 60_000 });
    const capacity = { vcpus: 4, memMib: 2048, diskGib: 10 };
    await api.call('registerNode', {
      params: { node: 'n1' },
      body: { hostname: 'n1', arch: 'x86_64', capacity },
    });
    await api.call('createTenant', { body: { id: 'acme' } });
    await api.call('createPool', {
      params: { tenant: 'acme' },
      body: { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 16 },
    });
    agent = await startAgent(
      testAgentConfig(
        join(dir, 'agent'),
        { MVM_NETWORK: 'off' },
        { coordinator: coordinator.url, token: ADMIN, node: 'n1', heartbeatMs: 1_000 },
      ),
      {
        logger: memoryLogger(agentLines),
        vmm: tcgVmm(),
        cgroups: null,
        network: null,
        capacity,
        timeouts: { sleepPrepMs: 3_000 },
      },
    );
    mvm = cliAt(coordinator.url, ADMIN);
  }, 300_000);

  afterAll(async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    await coordinator?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the scale: coordinator log, agent reconcile line, the guest console and its echo', async () => {
    const scaled = await mvm(['pool', 'scale', 'acme/web', '--running', '1', '--json']);
    expect(scaled.code).toBe(0);
    const id = loggedId('POST', /^\/v1\/tenants\/acme\/pools\/web\/scale$/);
    expect(id).toMatch(/^req-[0-9a-f]{16}$/);
    const created = (
      await api.call('listInstances', { query: { tenant: 'acme', pool: 'web' } })
    ).map((i) => i.id);
    expect(created).toHaveLength(1);
    instanceId = created[0] ?? '';
    const params = { tenant: 'acme', pool: 'web', instance: instanceId };
    await until(
      'the instance to run',
      async () => (await api.call('getInstance', { params })).status === 'running' || undefined,
      240_000,
    );
    const label = `acme/web/${instanceId}`;
    expect(agentLines).toContainEqual(
      expect.objectContaining({
        msg: 'reconciling instance',
        instance: label,
        requestId: id,
        steps: expect.arrayContaining(['boot']),
      }),
    );
    // The runtime's own lines for that work carry it too.
    expect(agentLines).toContainEqual(
      expect.objectContaining({ msg: 'instance running (cold boot)', requestId: id }),
    );
    // The guest agent was sent it, echoed it, and wrote it on its console.
    expect(agentLines).toContainEqual(
      expect.objectContaining({
        msg: 'guest agent answered',
        op: 'drives',
        requestId: id,
        echoed: true,
      }),
    );
    await until(
      'the console line',
      async () =>
        (await consoleText(join(dir, 'agent'))).includes(`op=drives rid=${id}`) || undefined,
      30_000,
    );
  }, 300_000);

  it('a sleep: its own id, as far as the guest', async () => {
    const ref = `acme/web/${instanceId}`;
    const slept = await mvm(['instance', 'sleep', ref, '--json']);
    expect(slept.code).toBe(0);
    const id = loggedId('POST', new RegExp(`/instances/${instanceId}/actions$`));
    expect(id).toMatch(/^req-/);
    const params = { tenant: 'acme', pool: 'web', instance: instanceId };
    await until(
      'the instance to sleep',
      async () => (await api.call('getInstance', { params })).status === 'sleeping' || undefined,
      240_000,
    );
    expect(agentLines).toContainEqual(
      expect.objectContaining({ msg: 'reconciling instance', requestId: id }),
    );
    expect(agentLines).toContainEqual(
      expect.objectContaining({
        msg: 'guest agent answered',
        op: 'sleep-prep',
        requestId: id,
        echoed: true,
      }),
    );
    const text = await consoleText(join(dir, 'agent'));
    expect(text).toContain(`op=sleep-prep rid=${id}`);
  }, 300_000);
});
