import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/start-agent.ts';
import { runQuickstart, type QuickstartResult } from '../../src/cli/quickstart/run-quickstart.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { testAgentConfig } from '../agent/agent-harness.ts';

const qemu = existsSync('/usr/bin/qemu-system-x86_64');
if (!qemu) {
  const message = 'quickstart e2e: qemu-system-x86_64 is absent; install qemu-system-x86';
  if (process.env.CI) throw new Error(message);
  console.warn(`[skip] ${message}`);
}

// The main job, end to end: coordinator on SQLite + agent + demo tenant + real microVMs (TCG).
// Networking stays off here (MVM_NETWORK=off): tests never touch the root namespace.
const NETWORK_OFF = { MVM_NETWORK: 'off' };
describe.skipIf(!qemu)('quickstart (fleet-of-one)', () => {
  let dataDir = '';
  const lines: string[] = [];
  afterAll(async () => {
    if (!dataDir) return;
    const agent = await startAgent(testAgentConfig(dataDir, NETWORK_OFF), {
      mode: 'runtime',
      logger: pino({ level: 'warn' }),
    });
    await agent.runtime.destroyAll();
    await agent.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function run(untilShutdown?: () => Promise<string>): Promise<QuickstartResult> {
    return runQuickstart({
      settings: {
        listen: '127.0.0.1:0',
        databaseUrl: join(dataDir, 'coordinator.sqlite'),
        clusterCidr: '10.240.0.0/12',
        dataDir,
      },
      sizes: { running: 1, warm: 0, sleeping: 1 },
      node: { id: 'local', hostname: 'local', vcpus: 8, memMib: 8192 },
      readToken: async () => (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim(),
      agentConfig: (link) =>
        testAgentConfig(dataDir, NETWORK_OFF, {
          coordinator: link.coordinatorUrl,
          token: link.token,
          node: link.nodeId,
        }),
      print: (line) => lines.push(line),
      untilShutdown,
      demoNetId: 213, // taps are per host by net id; keep clear of other tests
    });
  }

  it('boots the demo fleet for real and changes nothing when run again', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mvm-quickstart-'));
    const first = await run();
    const byPool = (r: QuickstartResult) =>
      r.instances.map((i) => `${i.poolId}:${i.desiredStatus}:${i.status}`).sort();
    expect(byPool(first)).toEqual([
      'gateways:running:running',
      'workers:running:running',
      'workers:sleeping:sleeping',
    ]);
    expect(first.steps.every((s) => s.error === undefined)).toBe(true);
    expect(lines.some((l) => l.includes('fleet-of-one ready'))).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}dashboard: http:\/\/\S+\/ui \(/));
    const second = await run();
    expect(second.instances.map((i) => [i.id, i.ip, i.status])).toEqual(
      first.instances.map((i) => [i.id, i.ip, i.status]),
    );
    // The VMs kept running between the runs: the agent adopted them instead of booting again.
    const agent = await startAgent(testAgentConfig(dataDir, NETWORK_OFF), {
      mode: 'runtime',
      logger: pino({ level: 'warn' }),
    });
    const pids = (await agent.runtime.list())
      .filter((vm) => vm.status === 'running')
      .map((vm) => vm.handle?.pid);
    await agent.close();
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(existsSync(`/proc/${String(pid)}`)).toBe(true);
  }, 240_000);

  it('while serving, follows a pool scale on the API to the running VMs', async () => {
    let stop: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (stop = resolve));
    lines.length = 0;
    const serving = run(() => stopped);
    try {
      const url = await waitUntil(
        () => lines.map((l) => /serving until/.test(l)).includes(true) || undefined,
        { clock: systemClock, timeoutMs: 120_000, what: 'the quickstart to serve' },
      ).then(() => /coordinator (http:\/\/\S+),/.exec(lines.join('\n'))?.[1]);
      const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
      const api = createApiClient({ baseUrl: url ?? '', token });
      await api.call('scalePool', {
        params: { tenant: 'demo', pool: 'workers' },
        body: { running: 0, warm: 1, sleeping: 1 },
      });
      const workers = await waitUntil(
        async () => {
          const list = await api.call('listInstances', {
            query: { tenant: 'demo', pool: 'workers' },
          });
          const statuses = list.map((i) => `${i.desiredStatus}:${i.status}`).sort();
          return statuses.join() === 'sleeping:sleeping,warm:warm' ? statuses : undefined;
        },
        {
          clock: systemClock,
          timeoutMs: 60_000,
          intervalMs: 200,
          what: 'the running worker to be paused',
        },
      );
      expect(workers).toEqual(['sleeping:sleeping', 'warm:warm']);
      // Its heartbeats (every one rewrites the node's capacity) declare the quickstart's
      // overcommitted capacity, the one it registered, not this host's measured one.
      const node = await api.call('getNode', { params: { node: 'local' } });
      expect(node.usage).not.toBeNull();
      expect(node.capacity).toEqual({ vcpus: 8, memMib: 8192, diskGib: 100 });
    } finally {
      stop('SIGTERM');
      await serving;
    }
  }, 240_000);
});
