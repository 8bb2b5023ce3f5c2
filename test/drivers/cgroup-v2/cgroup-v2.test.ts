import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostError, UnavailableError, ValidationError } from '../../../src/core/errors.ts';
import { CgroupV2 } from '../../../src/drivers/cgroup-v2/cgroup-v2.ts';

/** rmdir with cgroupfs's rule: EBUSY while the cgroup still lists processes. */
async function kernelLikeRmdir(path: string): Promise<void> {
  const procs = await readFile(join(path, 'cgroup.procs'), 'utf8').catch(() => '');
  if (procs.trim() !== '') throw Object.assign(new Error(`EBUSY: ${path}`), { code: 'EBUSY' });
  await rm(path, { recursive: true });
}

const limits = { vcpus: 2, memMib: 512, pids: 256 };

describe('CgroupV2 on a temp dir', () => {
  let root = '';
  let cgroups: CgroupV2;
  const read = (...parts: string[]): Promise<string> => readFile(join(root, ...parts), 'utf8');

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-cgroup-'));
    cgroups = new CgroupV2({ root, removeDir: kernelLikeRmdir, removeTimeoutMs: 300 });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes every limit whose controller the mount offers', async () => {
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids\n');
    await writeFile(join(root, 'cgroup.subtree_control'), 'cpu memory pids\n');
    const info = await cgroups.create('mvm-a1', limits);
    expect(info).toEqual({
      dir: join(root, 'mvm.slice', 'mvm-a1'),
      dirs: [join(root, 'mvm.slice', 'mvm-a1')],
      applied: ['vcpus', 'memMib', 'pids'],
      unavailable: [],
    });
    expect(await cgroups.layout()).toEqual({
      mode: 'v2',
      controllers: { cpu: 'v2', memory: 'v2', pids: 'v2' },
    });
    expect(await read('mvm.slice', 'mvm-a1', 'cpu.max')).toBe('200000 100000');
    expect(await read('mvm.slice', 'mvm-a1', 'memory.max')).toBe(String(512 * 1024 * 1024));
    expect(await read('mvm.slice', 'mvm-a1', 'pids.max')).toBe('256');
    // Already enabled at the root: left alone. Enabled one by one in mvm.slice.
    expect(await read('cgroup.subtree_control')).toBe('cpu memory pids\n');
    expect(await read('mvm.slice', 'cgroup.subtree_control')).toBe('+pids');
  });

  it('reports limits as unavailable when cgroup2 lacks their controllers (hybrid hosts)', async () => {
    await writeFile(join(root, 'cgroup.controllers'), 'hugetlb\n');
    const info = await cgroups.create('mvm-a1', limits);
    expect(info.applied).toEqual([]);
    expect(info.unavailable).toEqual(['vcpus', 'memMib', 'pids']);
    await expect(read('mvm.slice', 'mvm-a1', 'cpu.max')).rejects.toThrow(/ENOENT/);
    await expect(read('mvm.slice', 'cgroup.subtree_control')).rejects.toThrow(/ENOENT/);
  });

  it('turns fractional vCPUs into a share of the period, and is idempotent', async () => {
    await writeFile(join(root, 'cgroup.controllers'), 'cpu\n');
    await cgroups.create('mvm-a1', limits);
    const info = await cgroups.create('mvm-a1', { ...limits, vcpus: 0.5 });
    expect(info.applied).toEqual(['vcpus']);
    expect(info.unavailable).toEqual(['memMib', 'pids']);
    expect(await read('mvm.slice', 'mvm-a1', 'cpu.max')).toBe('50000 100000');
  });

  it('rejects bad keys, limits and pids', async () => {
    for (const key of ['a1', 'mvm-', 'mvm-A', 'mvm-../x', 'mvm-a/b', '../mvm-a']) {
      await expect(cgroups.create(key, limits)).rejects.toBeInstanceOf(ValidationError);
    }
    const error = await cgroups
      .create('mvm-a1', { vcpus: 0, memMib: 1.5, pids: -1 })
      .catch((e: unknown) => e);
    expect((error as ValidationError).problems).toHaveLength(3);
    await expect(cgroups.place('mvm-a1', 0)).rejects.toBeInstanceOf(ValidationError);
  });

  it('places pids and lists them', async () => {
    await cgroups.create('mvm-a1', limits);
    expect(await cgroups.pids('mvm-a1')).toEqual([]);
    await cgroups.place('mvm-a1', 4242);
    expect(await cgroups.pids('mvm-a1')).toEqual([4242]);
    expect(await cgroups.pids('mvm-gone')).toEqual([]);
    await expect(cgroups.place('mvm-gone', 4242)).rejects.toThrow(/create it first/);
  });

  it('remove waits for processes to leave, then is idempotent', async () => {
    await cgroups.create('mvm-a1', limits);
    await cgroups.place('mvm-a1', 4242);
    setTimeout(() => void writeFile(join(root, 'mvm.slice', 'mvm-a1', 'cgroup.procs'), ''), 80);
    await cgroups.remove('mvm-a1');
    expect(await cgroups.list()).toEqual([]);
    await cgroups.remove('mvm-a1');
  });

  it('remove names the processes that stay', async () => {
    await cgroups.create('mvm-a1', limits);
    await cgroups.place('mvm-a1', 4242);
    const error = await cgroups.remove('mvm-a1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostError);
    expect((error as HostError).message).toContain('4242');
    expect(await cgroups.list()).toEqual(['mvm-a1']);
  });

  it('lists only mvm keys under mvm.slice', async () => {
    expect(await cgroups.list()).toEqual([]);
    await cgroups.create('mvm-a1', limits);
    await cgroups.create('mvm-b2', limits);
    await mkdir(join(root, 'mvm.slice', 'someone-else'));
    expect((await cgroups.list()).sort()).toEqual(['mvm-a1', 'mvm-b2']);
  });

  it('counts OOM kills from memory.events', async () => {
    await cgroups.create('mvm-a1', limits);
    expect(await cgroups.oomKills('mvm-a1')).toBe(0);
    const events = 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n';
    await writeFile(join(root, 'mvm.slice', 'mvm-a1', 'memory.events'), events);
    expect(await cgroups.oomKills('mvm-a1')).toBe(1);
  });

  it("reads the cgroup's CPU time from cpu.stat, and nothing for a cgroup that is gone", async () => {
    await cgroups.create('mvm-a1', limits);
    const stat = 'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnice_usec 0\n';
    await writeFile(join(root, 'mvm.slice', 'mvm-a1', 'cpu.stat'), stat);
    expect(await cgroups.cpuUsageUsec('mvm-a1')).toBe(1_234_567);
    expect(await cgroups.cpuUsageUsec('mvm-b2')).toBeUndefined();
  });
});

describe('CgroupV2 mount detection', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-mountinfo-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the mount from mountinfo', async () => {
    const path = join(dir, 'mountinfo');
    await writeFile(path, '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n');
    expect(await new CgroupV2({ mountinfoPath: path }).mountPoint()).toBe('/sys/fs/cgroup/unified');
  });

  it('without cgroup2: create is unavailable, the rest are no-ops', async () => {
    const path = join(dir, 'mountinfo');
    await writeFile(path, '22 1 0:21 / / rw - ext4 /dev/vda1 rw\n');
    const cgroups = new CgroupV2({ mountinfoPath: path });
    expect(await cgroups.mountPoint()).toBeUndefined();
    await expect(cgroups.create('mvm-a1', limits)).rejects.toBeInstanceOf(UnavailableError);
    expect(await cgroups.list()).toEqual([]);
    expect(await cgroups.pids('mvm-a1')).toEqual([]);
    expect(await cgroups.cpuUsageUsec('mvm-a1')).toBeUndefined();
    await cgroups.remove('mvm-a1');
  });
});
