/**
 * The agent's composition root without booting a guest: what each mode starts, the local
 * socket, the production checks made before anything is built, and the coordinator link
 * (heartbeats with the embedding process's capacity, one converge pass) against a real
 * coordinator over HTTP.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { AgentHandle, StartAgentOptions } from '../../src/agent/start-agent.ts';
import { createAgentClient } from '../../src/cli/agent-client.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { serveTestCoordinator } from '../support/served-coordinator.ts';
import { agentDataDir, quietLogger, tcgVmm, testAgentConfig } from './agent-harness.ts';

const ADMIN = randomBytes(32).toString('hex');

describe('startAgent', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  async function dataDir(): Promise<string> {
    const dir = await agentDataDir('root');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  async function start(
    config: Parameters<typeof startAgent>[0],
    options: StartAgentOptions = {},
  ): Promise<AgentHandle> {
    const agent = await startAgent(config, {
      logger: quietLogger,
      vmm: tcgVmm(),
      cgroups: null,
      network: null,
      ...options,
    });
    cleanup.push(() => agent.close());
    return agent;
  }

  it('runtime mode: the runtime after recovery, no socket, no coordinator', async () => {
    const dir = await dataDir();
    const agent = await start(testAgentConfig(dir, { MVM_NETWORK: 'off' }), { mode: 'runtime' });
    expect(agent.socket).toBeUndefined();
    expect(agent.link).toBeUndefined();
    expect(agent.recovery).toMatchObject({ adopted: [], failed: [] });
    expect(await agent.runtime.list()).toEqual([]);
    expect(existsSync(join(dir, 'agent.sock'))).toBe(false);
  });

  it('serve mode: the local API on the configured socket (0600), gone after close', async () => {
    const dir = await dataDir();
    const socket = join(dir, 'run', 'local.sock');
    const config = testAgentConfig(dir, { MVM_NETWORK: 'off', MVM_AGENT_SOCKET: socket });
    const agent = await start(config);
    expect(agent.socket).toBe(socket);
    expect(agent.link).toBeUndefined();
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    expect(await createAgentClient(socket, 5_000).list()).toEqual([]);
    await agent.close();
    await agent.close();
    expect(existsSync(socket)).toBe(false);
  });

  it('the local API reads at most 1 MiB of a body: more is a 413 and nothing is created', async () => {
    const dir = await dataDir();
    const socket = join(dir, 'run', 'local.sock');
    const agent = await start(
      testAgentConfig(dir, { MVM_NETWORK: 'off', MVM_AGENT_SOCKET: socket }),
    );
    const body = JSON.stringify({ vcpus: 1, memMib: 128, pad: 'x'.repeat(2 * 1024 * 1024) });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          socketPath: socket,
          method: 'PUT',
          path: '/v1/local/tenants/t/pools/p/instances/i',
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'payload_too_large' } });
    expect(await agent.runtime.list()).toEqual([]);
  });

  it('production on a host that never joined fails before anything is built', async () => {
    const dir = await dataDir();
    const config = testAgentConfig(dir, { MVM_NETWORK: 'off' }, { production: true });
    const failure = start(config);
    await expect(failure).rejects.toThrow(ValidationError);
    await expect(failure).rejects.toThrow(/production mode needs a joined host: run 'mvm add host/);
    expect(existsSync(join(dir, 'agent.sqlite'))).toBe(false);
    expect(existsSync(join(dir, 'agent.sock'))).toBe(false);
  });

  it('linked by node id and token: heartbeats carry the given capacity and the underlay', async () => {
    const dir = await dataDir();
    const coordinator = await serveTestCoordinator({ prefix: 'mvm-ag-coord-', adminToken: ADMIN });
    cleanup.push(() => coordinator.close());
    const { api } = coordinator;
    const registered = { vcpus: 1, memMib: 256, diskGib: 1 };
    await api.call('registerNode', {
      params: { node: 'n1' },
      body: { hostname: 'n1', arch: 'x86_64', capacity: registered },
    });
    const config = testAgentConfig(
      join(dir, 'agent'),
      { MVM_NETWORK: 'off' },
      {
        coordinator: coordinator.url,
        token: ADMIN,
        node: 'n1',
        heartbeatMs: 200,
        underlayIp: '192.0.2.10',
      },
    );
    const capacity = { vcpus: 48, memMib: 3072, diskGib: 9 };
    const agent = await start(config, { capacity, follow: false });
    expect(agent.link).toMatchObject({ nodeId: 'n1', baseUrl: coordinator.url, mtls: false });
    expect(agent.underlayIp).toBe('192.0.2.10');
    const node = await waitUntil(
      async () => {
        const seen = await api.call('getNode', { params: { node: 'n1' } });
        return seen.usage !== null ? seen : undefined;
      },
      {
        clock: systemClock,
        timeoutMs: 10_000,
        intervalMs: 100,
        what: 'a heartbeat from the agent',
      },
    );
    expect(node).toMatchObject({ capacity, underlayIp: '192.0.2.10', status: 'ready' });
    // The agent sends delta heartbeats (docs/scale.md): its report is a sequenced one, and
    // deltas on it were merged (the sequence moved on past the first whole report).
    const { db } = openDatabase(coordinator.databaseUrl);
    cleanup.push(() => db.destroy());
    const report = await waitUntil(
      async () => {
        const row = await db
          .selectFrom('node_reports')
          .select(['report_epoch', 'report_seq'])
          .where('node_id', '=', 'n1')
          .executeTakeFirst();
        return row && (row.report_seq ?? 0) >= 3 ? row : undefined;
      },
      { clock: systemClock, timeoutMs: 10_000, intervalMs: 100, what: 'merged deltas' },
    );
    expect(report.report_epoch).toMatch(/^[0-9a-f-]{36}$/);
    // Nothing placed on n1 yet: one pass on its signed document changes nothing.
    expect(await agent.link?.convergeOnce()).toEqual([]);
    agent.link?.follow();
    agent.link?.follow();
  });
});
