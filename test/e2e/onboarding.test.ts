/**
 * The onboarding check, end to end with a real guest (QEMU, TCG): a coordinator on
 * SQLite over HTTP, `mvm add host` registering this host, a real agent following it with its
 * tenant network in a namespace of the test's own, then `mvm new openclaw --wait` (one small
 * gateway, no workers, so TCG boots one guest) and `mvm connect --json`. On the same setup:
 * `mvm node disk` and `mvm instance stats` report what the heartbeats carry (real bytes, the
 * VMM's pid and tap), and `mvm node gc` lists then removes a planted orphan snapshot, a dead
 * tap and unused image-cache entries while the running guest, its tap, its disk and the image
 * it boots from stay.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import { createAgentClient } from '../../src/cli/agent-client.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { NewOpenclawResult } from '../../src/cli/onboarding/new-openclaw.ts';
import type { ConnectView } from '../../src/cli/views/connect-views.ts';
import type { NodeGcReport } from '../../src/contract/agent-api.ts';
import type { DiskReport, InstanceStatsView } from '../../src/contract/node-report.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { DEFAULT_CACHE_DIR } from '../../src/drivers/dev-image/cache-dir.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { isAlive } from '../../src/drivers/process/process-control.ts';
import { testAgentConfig } from '../agent/agent-harness.ts';
import { runIn, type CliRun } from '../cli/support/run-cli.ts';
import { netGate } from '../net/support/net-lab.ts';
import { until } from '../support/until.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('onboarding e2e', [await netGate('onboarding e2e')]);

const runner = new NodeProcessRunner();
const NODE = 'ob-node';
const TENANT = 'ob';
const FAKE_IMAGE = 'e'.repeat(64);

describe.runIf(gate.run)('onboarding: new openclaw, connect, node disk and gc', () => {
  let root = '';
  const ns = `mvmt-${process.pid}-ob`;
  let coordinator: RunningCoordinator | undefined;
  let agent: AgentHandle | undefined;
  let coordDir = '';
  let agentDir = '';
  let cacheDir = '';
  let token = '';

  const cli = (argv: string[], dataDir = coordDir): Promise<CliRun> =>
    runIn(argv, {
      env: {
        MVM_DATA_DIR: dataDir,
        MVM_COORDINATOR_URL: coordinator?.url ?? '',
        MVM_TOKEN: token,
        MVM_CACHE_DIR: cacheDir,
      },
      readText: readTextFile,
      defaultConfigFile: join(root, 'no-config.json'),
      fetch: (request) => fetch(request),
    });
  const json = async <T>(argv: string[], dataDir?: string): Promise<T> => {
    const run = await cli([...argv, '--json'], dataDir);
    expect(run.code, `mvm ${argv.join(' ')}: ${run.stderr}`).toBe(0);
    return JSON.parse(run.stdout) as T;
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-ob-'));
    coordDir = join(root, 'c');
    agentDir = join(root, 'a');
    cacheDir = join(root, 'cache');
    // The dev image from the shared cache, hard-linked (nothing there is written in place):
    // this test's gc then collects in a cache of its own.
    await mkdir(cacheDir);
    for (const part of ['kernels', 'init-drives', 'guest-agent', 'images']) {
      const from = join(DEFAULT_CACHE_DIR, part);
      if (existsSync(from)) await runner.run('cp', ['-al', from, join(cacheDir, part)]);
    }
    await runner.run('ip', ['netns', 'add', ns]);
    await runner.run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(coordDir, 'coordinator.sqlite'),
        clusterCidr: '10.240.0.0/12',
        dataDir: coordDir,
      },
      { logger: pino({ level: 'silent' }) },
    );
    token = (await readFile(join(coordDir, 'admin.token'), 'utf8')).trim();
  }, 120_000);

  afterAll(async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    await coordinator?.close();
    await runner.run('ip', ['netns', 'del', ns], { check: false });
    if (root) await rm(root, { recursive: true, force: true });
  }, 120_000);

  it('mvm add host registers this host; new openclaw boots the gateway; connect --json shows it', async () => {
    const added = await json<{ steps: Array<{ name: string; status: string }>; next: string[] }>([
      'add',
      'host',
      '--node-id',
      NODE,
    ]);
    expect(added.steps.find((s) => s.name === 'node identity')?.status).toBe('registered');
    expect(added.next).toEqual([`mvm agent serve --node ${NODE}`]);

    agent = await startAgent(
      testAgentConfig(
        agentDir,
        { MVM_CACHE_DIR: cacheDir },
        {
          coordinator: coordinator?.url ?? '',
          token,
          node: NODE,
          netns: ns,
          heartbeatMs: 500,
        },
      ),
      {
        logger: pino({ level: 'warn' }, pino.destination(join(root, 'agent.log'))),
        // mvm's cgroups are host-wide, shared with every other test's agent on this host:
        // this agent's gc must not take theirs for orphans. (The reaper's cgroup handling is
        // proven in agent-restart.test.ts.)
        cgroups: null,
      },
    );

    const created = await json<NewOpenclawResult>([
      'new',
      'openclaw',
      TENANT,
      '--dev-image',
      ...['--cpus', '1', '--mem', '256', '--data-disk', '64'],
      ...['--workers', '0', '--warm-workers', '0', '--wait-for', '4m'],
    ]);
    expect(created.wait).toMatchObject({ settled: true, instances: 1 });
    expect(created.next).toBe(`mvm connect ${TENANT}`);

    const view = await json<ConnectView>(['connect', TENANT]);
    expect(view.network.bridge).toBe(`br-tenant-${view.network.netId}`);
    expect(view.network.gateway).toBe(view.network.subnet.replace(/0\/24$/, '1'));
    expect(view.pools.map((p) => [p.id, p.role, p.desired.running, p.observed])).toEqual([
      ['gateways', 'gateway', 1, { running: 1 }],
      ['workers', 'worker', 0, {}],
    ]);
    expect(view.instances).toEqual([
      expect.objectContaining({
        pool: 'gateways',
        status: 'running',
        desiredStatus: 'running',
        node: NODE,
      }),
    ]);
    const gateway = view.instances[0];
    expect(gateway?.ip.startsWith(view.network.subnet.replace(/0\/24$/, ''))).toBe(true);
    // The bridge and the guest's tap exist in the agent's namespace.
    const links = await runner.run('ip', ['-n', ns, '-o', 'link', 'show']);
    expect(links.stdout).toContain(view.network.bridge);
  }, 300_000);

  it('node disk and instance stats report the real guest from the heartbeats', async () => {
    const view = await json<ConnectView>(['connect', TENANT]);
    const gateway = view.instances[0];
    if (!gateway) throw new Error('no gateway instance');
    const path = gateway.path;
    const stats = await until(
      'a heartbeat sample with CPU and memory',
      async () => {
        const s = await json<InstanceStatsView>(['instance', 'stats', path]);
        // A heartbeat may have sampled the VM while it booted: wait for one since it runs.
        const sample = s.sample;
        const full = sample?.status === 'running' && sample.cpuPermille !== undefined;
        return full && sample.rssKib !== undefined ? s : undefined;
      },
      30_000,
      250,
    );
    expect(stats.sample?.status).toBe('running');
    expect(await isAlive(stats.sample?.pid ?? 0)).toBe(true);
    expect(stats.sample?.tap).toMatch(new RegExp(`^mvt${view.network.netId}-\\d+$`));
    expect(stats.sample?.rssKib).toBeGreaterThan(10_000);
    expect(stats.node).toMatchObject({ id: NODE, status: 'ready' });

    const [disk] = await json<Array<{ node: string; disk: DiskReport }>>([
      'node',
      'disk',
      '--node',
      NODE,
    ]);
    const tenant = disk?.disk.tenants.find((t) => t.tenant === TENANT);
    expect(tenant).toMatchObject({ instances: 1, dataDisks: { count: 1 } });
    // mkfs writes the ext4 metadata of the 1 GiB data drive: real, allocated bytes.
    expect(tenant?.dataDisks.kib).toBeGreaterThan(100);
    expect(tenant?.other.kib).toBeGreaterThan(0);
    expect(disk?.disk.artifacts.images.count).toBeGreaterThanOrEqual(1);
    expect(disk?.disk.artifacts.kernels.kib).toBeGreaterThan(10_000);
    expect(disk?.disk.cacheDir.path).toBe(cacheDir);
    const human = (await cli(['node', 'stats', '--node', NODE])).stdout;
    expect(human).toMatch(new RegExp(`^${TENANT}\\s+1\\s+1 running\\s+\\d+\\.\\d%`, 'm'));
  }, 120_000);

  it('node gc lists, then removes, a planted orphan snapshot, dead tap and unused artifact, and nothing in use', async () => {
    const view = await json<ConnectView>(['connect', TENANT]);
    const gateway = view.instances[0];
    if (!gateway) throw new Error('no gateway instance');
    const key = vmKey(TENANT, 'gateways', gateway.id);
    const orphanSnapshot = join(agentDir, 'vms', key, 'snapshots', '9');
    await mkdir(orphanSnapshot, { recursive: true });
    await writeFile(join(orphanSnapshot, 'memory'), Buffer.alloc(1024 * 1024, 3));
    const deadTap = `mvt${view.network.netId}-250`;
    await runner.run('ip', ['-n', ns, 'tuntap', 'add', 'dev', deadTap, 'mode', 'tap']);
    const fakeImage = join(cacheDir, 'images', FAKE_IMAGE);
    await mkdir(fakeImage, { recursive: true });
    await writeFile(join(fakeImage, 'rootfs.ext4'), Buffer.alloc(256 * 1024, 1));
    await writeFile(join(fakeImage, 'manifest.json'), '{}');
    const local = createAgentClient(join(agentDir, 'agent.sock'), 30_000);
    const before = await local.stats({
      tenantId: TENANT,
      poolId: 'gateways',
      instanceId: gateway.id,
    });
    const current = agent?.deps.images.current?.()?.revision;
    expect(current).toMatch(/^[0-9a-f]{64}$/);

    const dry = await json<NodeGcReport>(['node', 'gc', '--dry-run'], agentDir);
    const listed = dry.items.map((i) => `${i.kind} ${i.name}`);
    expect(listed).toContain(`snapshot ${key}/9`);
    expect(listed).toContain(`tap ${deadTap}`);
    expect(listed).toContain(`artifact image ${FAKE_IMAGE}`);
    expect(listed).not.toContain(`artifact image ${current ?? ''}`);
    expect(listed.some((i) => i.includes(before.spec.tap))).toBe(false);
    expect(listed.filter((i) => i.startsWith('instance-dir') || i.startsWith('process'))).toEqual(
      [],
    );
    expect(dry.kept).toContainEqual({ kind: 'image', name: current });
    expect(existsSync(orphanSnapshot) && existsSync(fakeImage)).toBe(true);

    const done = await json<NodeGcReport>(['node', 'gc'], agentDir);
    expect(done.failed).toEqual([]);
    expect(done.items.map((i) => `${i.kind} ${i.name}`).sort()).toEqual([...listed].sort());
    expect(existsSync(orphanSnapshot)).toBe(false);
    expect(existsSync(fakeImage)).toBe(false);
    const linksAfter = (await runner.run('ip', ['-n', ns, '-o', 'link', 'show'])).stdout;
    expect(linksAfter).not.toContain(`${deadTap}:`);
    expect(linksAfter).toContain(`${before.spec.tap}:`);
    // What is in use stayed: the image it boots from, its disk, and the running guest itself.
    expect(existsSync(join(cacheDir, 'images', current ?? ''))).toBe(true);
    expect(existsSync(join(agentDir, 'vms', key, 'drives', 'data.ext4'))).toBe(true);
    const after = await local.stats({
      tenantId: TENANT,
      poolId: 'gateways',
      instanceId: gateway.id,
    });
    expect([after.status, after.vmState, after.pid]).toEqual(['running', 'running', before.pid]);
    expect(after.guest?.bootId).toBe(before.guest?.bootId);
    expect((await json<NodeGcReport>(['node', 'gc', '--dry-run'], agentDir)).items).toEqual([]);
  }, 120_000);
});
