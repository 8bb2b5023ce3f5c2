import { link, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ActivityTracker } from '../../src/agent/activity/activity-tracker.ts';
import { collectNodeDisk } from '../../src/agent/disk/disk-report.ts';
import { sendHeartbeats } from '../../src/agent/heartbeat/send-heartbeats.ts';
import { agentLayout } from '../../src/agent/runtime/layout.ts';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { DiskReport, InstanceStatsView } from '../../src/contract/node-report.ts';
import type { TenantNodeStats } from '../../src/cli/views/report-views.ts';
import type { InstanceView } from '../../src/contract/resources.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { until } from '../support/until.ts';
import {
  describeEachCoordinator,
  type InProcessCoordinator,
} from './support/in-process-coordinator.ts';
import { runIn, type CliRun } from './support/run-cli.ts';

/**
 * `mvm node disk`, `mvm node stats` and `mvm instance stats` through the real path: the
 * agent's heartbeat sender reads a real data dir and image cache (files with known allocated
 * sizes, a hard-linked kernel, an orphan dir) and posts to an in-process coordinator, which
 * keeps the report; the CLI reads it back, on SQLite and on Postgres.
 */
const MIB = 1024 * 1024;
const REVISION = 'ab'.repeat(32);
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A file of `size` bytes with only `written` of them allocated (a sparse drive image). */
async function sparse(path: string, size: number, written: number): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const file = await open(path, 'w');
  await file.write(Buffer.alloc(written, 7), 0, written, 0);
  await file.truncate(size);
  await file.close();
}

function record(instance: InstanceView, status: VmRecord['status'], pid: number | null): VmRecord {
  return {
    key: vmKey(instance.tenantId, instance.poolId, instance.id),
    tenantId: instance.tenantId,
    poolId: instance.poolId,
    instanceId: instance.id,
    status,
    spec: { vcpus: 1, memMib: 256, tap: 'mvt42-2', revision: 'dev' },
    handle: pid === null ? null : { pid },
  } as unknown as VmRecord;
}

async function agentDisk(running: VmRecord, sleeping: VmRecord) {
  const root = await mkdtemp(join(tmpdir(), 'mvm-nd-'));
  dirs.push(root);
  const layout = { ...agentLayout(join(root, 'data')), cacheDir: join(root, 'cache') };
  const vm = (key: string, ...rest: string[]) => join(layout.vmsDir, key, ...rest);
  await sparse(vm(running.key, 'drives', 'data.ext4'), 64 * MIB, MIB);
  await sparse(vm(sleeping.key, 'drives', 'data.ext4'), 64 * MIB, MIB);
  await sparse(vm(sleeping.key, 'snapshots', '1', 'memory'), 4 * MIB, 2 * MIB);
  await sparse(vm('mvm-ghost-pool-x', 'drives', 'data.ext4'), MIB, 512 * 1024);
  const kernel = join(layout.cacheDir, 'kernels', '6.1.0-1-test');
  await sparse(join(kernel, 'vmlinux'), MIB, MIB);
  const image = join(layout.cacheDir, 'images', REVISION);
  await mkdir(image, { recursive: true });
  await link(join(kernel, 'vmlinux'), join(image, 'vmlinux'));
  await sparse(join(image, 'rootfs.ext4'), 8 * MIB, 256 * 1024);
  await writeFile(
    join(image, 'manifest.json'),
    JSON.stringify({ kernel: { release: '6.1.0-1-test' } }),
  );
  return layout;
}

async function heartbeatOnce(
  api: ApiClient,
  records: VmRecord[],
  layout: ReturnType<typeof agentLayout>,
) {
  let cpuUsec = 0;
  const tracker = new ActivityTracker({
    read: async () => ({ cpuUsec: (cpuUsec += 50_000), rssKib: 180_000 }),
  });
  const abort = new AbortController();
  let beats = 0;
  const loop = sendHeartbeats({
    api,
    nodeId: 'node-a',
    runtime: { list: async () => records },
    dataDir: layout.dataDir,
    tracker,
    disk: (list) => collectNodeDisk(layout, list),
    everyMs: 100,
    clock: systemClock,
    signal: abort.signal,
    onBeat: () => (beats += 1),
  });
  // The second heartbeat carries CPU: it needs two counter samples.
  await until('two heartbeats', async () => (beats >= 2 ? true : undefined), 10_000, 20);
  abort.abort();
  await loop;
}

await describeEachCoordinator('node disk and stats from heartbeats', (coordinator) => {
  const mvm = (line: string): Promise<CliRun> => cli(coordinator(), line);

  it("shows each tenant's data disks, snapshots and the shared cache as the agent reported them", async () => {
    const c = coordinator();
    const token = (await readFile(join(c.dataDir, 'admin.token'), 'utf8')).trim();
    const api = createApiClient({ baseUrl: 'http://coordinator.test', token, fetch: c.fetch });
    await api.call('registerNode', {
      params: { node: 'node-a' },
      body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 10 } },
    });
    expect((await mvm('tenant create acme --net-id 42')).code).toBe(0);
    expect(
      (await mvm('pool create acme/web --flake . --profile minimal --cpus 1 --mem 256')).code,
    ).toBe(0);
    expect((await mvm('pool scale acme/web --running 1 --sleeping 1')).code).toBe(0);
    const placed = await api.call('listInstances', { query: { tenant: 'acme' } });
    const up = placed.find((i) => i.desiredStatus === 'running') as InstanceView;
    const asleep = placed.find((i) => i.desiredStatus === 'sleeping') as InstanceView;
    const records = [record(up, 'running', 4242), record(asleep, 'sleeping', null)];
    const layout = await agentDisk(records[0] as VmRecord, records[1] as VmRecord);
    await heartbeatOnce(api, records, layout);

    const disk = JSON.parse((await mvm('node disk --json')).stdout) as Array<{
      node: string;
      status: string;
      disk: DiskReport;
    }>;
    expect(disk).toHaveLength(1);
    expect(disk[0]).toMatchObject({ node: 'node-a', status: 'ready' });
    const report = disk[0]?.disk as DiskReport;
    const acme = report.tenants[0] as DiskReport['tenants'][number];
    expect(acme).toMatchObject({ tenant: 'acme', instances: 2, revisions: ['dev'] });
    expect(acme.dataDisks.count).toBe(2);
    // Allocated, not apparent: 1 MiB written into each 64 MiB image.
    expect(acme.dataDisks.kib).toBeGreaterThanOrEqual(2048);
    expect(acme.dataDisks.kib).toBeLessThan(2048 + 256);
    expect(acme.snapshots.count).toBe(1);
    expect(acme.snapshots.kib).toBeGreaterThanOrEqual(2048);
    expect(acme.snapshots.kib).toBeLessThan(2048 + 128);
    expect(report.orphans.count).toBe(1);
    expect(report.artifacts.kernels).toMatchObject({ count: 1 });
    expect(report.artifacts.kernels.kib).toBeGreaterThanOrEqual(1024);
    // The image's vmlinux is a hard link to the kernel cache's: counted once, there.
    expect(report.artifacts.images.count).toBe(1);
    expect(report.artifacts.images.kib).toBeLessThan(512);
    expect(report.dataDir.freeKib).toBeGreaterThan(0);

    const human = (await mvm('node disk')).stdout;
    expect(human).toMatch(/^node node-a \(ready\)$/m);
    expect(human).toMatch(/^TENANT\s+INSTANCES\s+DATA DISKS\s+SNAPSHOTS/m);
    expect(human).toMatch(/^acme\s+2\s+2 \(2\.\d MiB\)\s+1 \(2\.\d MiB\)/m);
    expect(human).toMatch(/^kernels\s+1\s+1\.\d MiB$/m);
    expect(human).toMatch(/orphans:\s+1 \(/);

    const stats = JSON.parse((await mvm('node stats --node node-a --json')).stdout) as Array<{
      tenants: TenantNodeStats[];
    }>;
    expect(stats[0]?.tenants).toEqual([
      expect.objectContaining({
        tenant: 'acme',
        instances: 2,
        statuses: { running: 1, sleeping: 1 },
        rssKib: 180_000,
      }),
    ]);
    // 50 ms of CPU per ~100 ms heartbeat: around half a CPU.
    expect(stats[0]?.tenants[0]?.cpuPermille).toBeGreaterThan(100);
    expect((await mvm('node stats')).stdout).toMatch(
      /^acme\s+2\s+1 running, 1 sleeping\s+\d+\.\d%\s+175\.8 MiB/m,
    );

    const path = `acme/web/${up.id}`;
    const view = JSON.parse(
      (await mvm(`instance stats ${path} --json`)).stdout,
    ) as InstanceStatsView;
    expect(view.sample).toMatchObject({
      pid: 4242,
      tap: 'mvt42-2',
      status: 'running',
      rssKib: 180_000,
    });
    expect(view.node).toMatchObject({ id: 'node-a', status: 'ready' });
    const text = (await mvm(`instance stats ${path}`)).stdout;
    for (const field of [
      /^pid:\s+4242$/m,
      /^tap:\s+mvt42-2$/m,
      new RegExp(`^ip:\\s+${up.ip.replaceAll('.', '\\.')}$`, 'm'),
      /^memory:\s+175\.8 MiB resident$/m,
    ]) {
      expect(text).toMatch(field);
    }
    const sleeper = JSON.parse(
      (await mvm(`instance stats acme/web/${asleep.id} --json`)).stdout,
    ) as InstanceStatsView;
    expect(sleeper.sample?.snapshotKib).toBeGreaterThanOrEqual(2048);
    expect(sleeper.sample?.pid).toBeUndefined();
  }, 30_000);

  it('says so when a node has not reported yet, and refuses an unknown node', async () => {
    const c = coordinator();
    const token = (await readFile(join(c.dataDir, 'admin.token'), 'utf8')).trim();
    const api = createApiClient({ baseUrl: 'http://coordinator.test', token, fetch: c.fetch });
    await api.call('registerNode', {
      params: { node: 'node-b' },
      body: { hostname: 'b', arch: 'x86_64', capacity: { vcpus: 2, memMib: 2048, diskGib: 10 } },
    });
    expect((await mvm('node disk')).stdout).toContain('node node-b (ready): no disk report yet');
    const missing = await mvm('node disk --node nowhere');
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("node 'nowhere' not found");
  });
});

async function cli(c: InProcessCoordinator, line: string): Promise<CliRun> {
  return runIn(line.split(' '), {
    env: { MVM_DATA_DIR: c.dataDir },
    readText: readTextFile,
    defaultConfigFile: join(c.dataDir, 'no-config.json'),
    fetch: c.fetch,
  });
}
