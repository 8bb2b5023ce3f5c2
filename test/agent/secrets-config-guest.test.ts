/**
 * Secrets and config through the control plane, into ONE real guest (QEMU, TCG, one boot):
 * `secrets set` and `pool config set` on the coordinator, the agent following it (admin token,
 * as a development node), the guest reading /run/secrets/NAME (mode 0400) and
 * /etc/mvm-config/gateway.json; a change reaches the running guest at its next wake; and no
 * value is in clear in any file of the coordinator's or the agent's data dir, in any log line,
 * event or API answer. The secrets drive lives outside both data dirs, only while a VMM runs.
 */
import { lstat, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestOf } from '../../src/agent/runtime/guest-access.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { execText } from '../support/exec-output.ts';
import { secretsDrivePath, testAgentConfig } from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('secrets and config into a real guest');

const TENANT_SECRET = 'tenant-secret-5d1e8a70c4';
const POOL_V1 = 'pool-secret-v1-9c2f47b61e';
const POOL_V2 = 'pool-secret-v2-3b8e61d05a';
// A gateway pool's gateway.json is checked when set: routes only (docs/images.md).
const CONFIG_V1 = '{"routes":[{"to":"10.101.0.0/16","via":"10.0.0.1"}]}\n';
const CONFIG_V2 = '{"routes":[{"to":"10.102.0.0/16","via":"10.0.0.2"}]}\n';
const VALUES = [TENANT_SECRET, POOL_V1, POOL_V2];

/** Every log line a process writes, as text. */
function capture(lines: string[]): pino.Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

/** Every regular file below `dir` (sockets, links and the like skipped). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if ((await lstat(path)).isFile()) out.push(path);
  }
  return out;
}

/** The files (of those under `dirs`) holding any of `values` as bytes or as base64. */
async function filesHolding(dirs: readonly string[], values: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const dir of dirs) {
    for (const file of await filesUnder(dir)) {
      const bytes = await readFile(file);
      const hit = values.some(
        (v) => bytes.includes(Buffer.from(v)) || bytes.includes(Buffer.from(v).toString('base64')),
      );
      if (hit) found.push(file);
    }
  }
  return found;
}

describe.runIf(gate.run)('secrets and config reach a real guest through the coordinator', () => {
  const ref = { tenantId: 't1', poolId: 'gw', instanceId: '' };
  const logs: string[] = [];
  let coordDir = '';
  let agentDir = '';
  let secretsRoot = '';
  let coordinator: RunningCoordinator;
  let api: ApiClient;
  let agent: AgentHandle;

  const converge = async () => {
    const steps = (await agent.link?.convergeOnce()) ?? [];
    const failed = steps.filter((s) => s.error !== undefined);
    expect(failed).toEqual([]);
    return steps;
  };
  const guestRun = async (argv: string[]) => {
    const record = await agent.runtime.get(ref);
    const run = await execText(guestOf(agent.deps, record), { argv });
    expect(run.exit, argv.join(' ')).toMatchObject({ code: 0 });
    return run.stdout;
  };
  const scale = (body: { running: number; sleeping?: number }) =>
    api.call('scalePool', { params: { tenant: 't1', pool: 'gw' }, body });

  beforeAll(async () => {
    coordDir = await mkdtemp(join(tmpdir(), 'mvm-sc-c-'));
    agentDir = await mkdtemp(join(tmpdir(), 'mvm-sc-a-'));
    secretsRoot = await mkdtemp(join(tmpdir(), 'mvm-sc-s-'));
    coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(coordDir, 'coordinator.sqlite'),
        clusterCidr: '10.240.0.0/12',
        dataDir: coordDir,
        nodeLostAfterMs: 3_600_000,
      },
      { logger: capture(logs) },
    );
    const token = (await readFile(join(coordDir, 'admin.token'), 'utf8')).trim();
    api = createApiClient({ baseUrl: coordinator.url, token });
    await api.call('registerNode', {
      params: { node: 'node-a' },
      body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 4, memMib: 4096, diskGib: 10 } },
    });
    await api.call('createTenant', { body: { id: 't1', netId: 213 } });
    const pool = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 256, dataDiskMib: 16 };
    await api.call('createPool', {
      params: { tenant: 't1' },
      body: { id: 'gw', role: 'gateway', ...pool },
    });
    await api.call('setSecrets', {
      params: { tenant: 't1' },
      body: { values: { API_KEY: TENANT_SECRET, SHARED: TENANT_SECRET } },
    });
    await api.call('setSecrets', {
      params: { tenant: 't1' },
      body: { pool: 'gw', values: { API_KEY: POOL_V1 } },
    });
    await api.call('setPoolConfig', {
      params: { tenant: 't1', pool: 'gw' },
      body: { files: { 'gateway.json': CONFIG_V1 } },
    });
    const config = testAgentConfig(
      agentDir,
      { MVM_NETWORK: 'off', MVM_SECRETS_DIR: secretsRoot },
      { coordinator: coordinator.url, token, node: 'node-a' },
    );
    agent = await startAgent(config, { logger: capture(logs), follow: false });
  }, 60_000);

  afterAll(async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    await coordinator?.close();
    for (const dir of [coordDir, agentDir, secretsRoot]) {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it('boots with the pool value over the tenant one at /run/secrets (0400) and the config', async () => {
    const [created] = (await scale({ running: 1 })).created;
    ref.instanceId = created?.id ?? 'missing';
    await api.call('runScheduler', {});
    await converge();
    expect((await agent.runtime.get(ref)).status).toBe('running');
    expect(await guestRun(['cat', '/run/secrets/API_KEY'])).toBe(POOL_V1);
    expect(await guestRun(['cat', '/run/secrets/SHARED'])).toBe(TENANT_SECRET);
    expect(await guestRun(['stat', '-c', '%a %u', '/run/secrets/API_KEY'])).toBe('400 0\n');
    expect(await guestRun(['cat', '/etc/mvm-config/gateway.json'])).toBe(CONFIG_V1);
    // The drive (values in clear, for the VMM) is outside both data dirs, owner-only.
    const image = secretsDrivePath(agent.deps.layout, (await agent.runtime.get(ref)).key);
    expect(image.startsWith(`${secretsRoot}/`)).toBe(true);
    expect((await stat(image)).mode & 0o777).toBe(0o600);
  }, 240_000);

  it('a rotation and a new config reach the guest at its next wake, not before', async () => {
    await api.call('rotateSecrets', {
      params: { tenant: 't1' },
      body: { pool: 'gw', values: { API_KEY: POOL_V2 } },
    });
    await api.call('setPoolConfig', {
      params: { tenant: 't1', pool: 'gw' },
      body: { files: { 'gateway.json': CONFIG_V2 } },
    });
    await converge();
    expect(await guestRun(['cat', '/run/secrets/API_KEY'])).toBe(POOL_V1);

    await scale({ running: 0, sleeping: 1 });
    await converge();
    const asleep = await agent.runtime.get(ref);
    expect(asleep.status).toBe('sleeping');
    await expect(stat(secretsDrivePath(agent.deps.layout, asleep.key))).rejects.toThrow(/ENOENT/);

    await scale({ running: 1, sleeping: 0 });
    await converge();
    expect((await agent.runtime.get(ref)).status).toBe('running');
    expect(await guestRun(['cat', '/run/secrets/API_KEY'])).toBe(POOL_V2);
    expect(await guestRun(['stat', '-c', '%a', '/run/secrets/API_KEY'])).toBe('400\n');
    expect(await guestRun(['cat', '/etc/mvm-config/gateway.json'])).toBe(CONFIG_V2);
  }, 240_000);

  it('leaves no value in clear in the data dirs, the logs, the events or the answers', async () => {
    expect(await filesHolding([coordDir, agentDir], VALUES)).toEqual([]);
    // The scan does look: config is not secret, and its text is in the agent's document.
    expect(await filesHolding([agentDir], ['10.102.0.0/16'])).not.toEqual([]);
    const answers = [
      await api.call('listSecrets', { params: { tenant: 't1' } }),
      await api.call('listEvents', { query: { last: 1000 } }),
      await api.call('getPool', { params: { tenant: 't1', pool: 'gw' } }),
      await api.call('listInstances', { query: { tenant: 't1' } }),
      await api.call('watchNodeDesired', { params: { node: 'node-a' }, query: {} }),
      await api.call('getPoolConfig', { params: { tenant: 't1', pool: 'gw' } }),
    ];
    const seen = JSON.stringify([answers, logs]);
    for (const value of VALUES) {
      expect(seen).not.toContain(value);
      expect(seen).not.toContain(Buffer.from(value).toString('base64'));
    }
    expect(logs.length).toBeGreaterThan(10);
  });

  it('takes the secrets drive away with the instance', async () => {
    const key = (await agent.runtime.get(ref)).key;
    await api.call('destroyPool', {
      params: { tenant: 't1', pool: 'gw' },
      query: { force: 'true' },
    });
    await converge();
    expect(await agent.runtime.list()).toEqual([]);
    await expect(stat(secretsDrivePath(agent.deps.layout, key))).rejects.toThrow(/ENOENT/);
  }, 120_000);
});
