/**
 * HostCgroups on temp trees shaped like the three kinds of host, found through a mountinfo
 * written for the test: where each controller lives decides which files hold each limit.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostCgroups } from '../../../src/drivers/cgroups/host-cgroups.ts';
import {
  findCgroupV1Mounts,
  parseMountinfo,
} from '../../../src/drivers/cgroup-v2/cgroup2-mount.ts';

/** rmdir with cgroupfs's rule: EBUSY while the cgroup still lists processes. */
async function kernelLikeRmdir(path: string): Promise<void> {
  const procs = await readFile(join(path, 'cgroup.procs'), 'utf8').catch(() => '');
  if (procs.trim() !== '') throw Object.assign(new Error(`EBUSY: ${path}`), { code: 'EBUSY' });
  await rm(path, { recursive: true });
}

const limits = { vcpus: 2, memMib: 368, pids: 256 };
const MiB = 1024 * 1024;

/** A mountinfo line: `id parent dev root mountpoint options - fstype source superoptions`. */
const line = (id: number, point: string, fstype: string, superOptions: string): string =>
  `${id} 23 0:${id} / ${point} rw,relatime - ${fstype} ${fstype} ${superOptions}`;

describe('HostCgroups', () => {
  let root = '';
  const at = (...parts: string[]): string => join(root, ...parts);
  const read = (...parts: string[]): Promise<string> => readFile(at(...parts), 'utf8');

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-hostcg-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Writes the mountinfo and the mount dirs; cgroup2 offers `offered` at its root. */
  async function host(lines: string[], offered?: string): Promise<HostCgroups> {
    for (const l of lines) await mkdir(l.split(' ')[4] ?? '', { recursive: true });
    if (offered !== undefined) await writeFile(at('unified', 'cgroup.controllers'), offered);
    await writeFile(at('mountinfo'), `${lines.join('\n')}\n`);
    return new HostCgroups({
      mountinfoPath: at('mountinfo'),
      removeDir: kernelLikeRmdir,
      removeTimeoutMs: 300,
    });
  }

  const hybrid = () =>
    host(
      [
        line(32, at('cpu'), 'cgroup', 'rw,cpu'),
        line(33, at('cpuacct'), 'cgroup', 'rw,cpuacct'),
        line(35, at('memory'), 'cgroup', 'rw,memory'),
        line(39, at('pids'), 'cgroup', 'rw,pids'),
        line(40, at('systemd'), 'cgroup', 'rw,xattr,name=systemd'),
        line(41, at('unified'), 'cgroup2', 'rw'),
      ],
      'hugetlb\n',
    );

  it('on a hybrid host writes every limit in its v1 hierarchy and joins cgroup2 too', async () => {
    const cgroups = await hybrid();
    expect(await cgroups.layout()).toEqual({
      mode: 'hybrid',
      controllers: { cpu: 'v1', memory: 'v1', pids: 'v1' },
    });
    expect(await cgroups.mountPoint()).toBe(at('unified'));
    const info = await cgroups.create('mvm-a1', limits);
    const dir = (h: string) => at(h, 'mvm.slice', 'mvm-a1');
    expect(info).toEqual({
      dir: dir('unified'),
      dirs: [dir('unified'), dir('cpu'), dir('memory'), dir('pids')],
      applied: ['vcpus', 'memMib', 'pids'],
      unavailable: [],
    });
    expect(await read('cpu', 'mvm.slice', 'mvm-a1', 'cpu.cfs_period_us')).toBe('100000');
    expect(await read('cpu', 'mvm.slice', 'mvm-a1', 'cpu.cfs_quota_us')).toBe('200000');
    expect(await read('memory', 'mvm.slice', 'mvm-a1', 'memory.limit_in_bytes')).toBe(
      String(368 * MiB),
    );
    expect(await read('pids', 'mvm.slice', 'mvm-a1', 'pids.max')).toBe('256');

    await cgroups.place('mvm-a1', 4242);
    for (const d of info.dirs)
      expect(await readFile(join(d, 'cgroup.procs'), 'utf8')).toBe('4242\n');
    expect(await cgroups.pids('mvm-a1')).toEqual([4242]);
    expect(await cgroups.list()).toEqual(['mvm-a1']);

    await writeFile(
      join(dir('memory'), 'memory.oom_control'),
      'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    );
    expect(await cgroups.oomKills('mvm-a1')).toBe(2);
    await writeFile(join(dir('unified'), 'cpu.stat'), 'usage_usec 5000\n');
    expect(await cgroups.cpuUsageUsec('mvm-a1')).toBe(5000);

    for (const d of info.dirs) await writeFile(join(d, 'cgroup.procs'), '');
    await cgroups.remove('mvm-a1');
    expect(await cgroups.list()).toEqual([]);
    await cgroups.remove('mvm-a1');
  });

  it('places a process only in the hierarchies that do not list it yet', async () => {
    const cgroups = await hybrid();
    await cgroups.create('mvm-a1', limits);
    const procs = (h: string) => at(h, 'mvm.slice', 'mvm-a1', 'cgroup.procs');
    // Already in cpu and memory (the VMM joined them at spawn), not yet in the others.
    await writeFile(procs('cpu'), '17\n4242\n');
    await writeFile(procs('memory'), '4242\n17\n');
    await cgroups.place('mvm-a1', 4242);
    // A regular file takes what is written: untouched files prove no write happened.
    expect(await read('cpu', 'mvm.slice', 'mvm-a1', 'cgroup.procs')).toBe('17\n4242\n');
    expect(await read('memory', 'mvm.slice', 'mvm-a1', 'cgroup.procs')).toBe('4242\n17\n');
    expect(await read('pids', 'mvm.slice', 'mvm-a1', 'cgroup.procs')).toBe('4242\n');
    expect(await read('unified', 'mvm.slice', 'mvm-a1', 'cgroup.procs')).toBe('4242\n');
    await expect(cgroups.place('mvm-gone', 4242)).rejects.toThrow(
      /does not exist; create it first/,
    );
  });

  it('removes the v1 cgroups only once their processes left, naming the ones that stay', async () => {
    const cgroups = await hybrid();
    await cgroups.create('mvm-a1', limits);
    await cgroups.place('mvm-a1', 4242);
    await expect(cgroups.remove('mvm-a1')).rejects.toThrow(/4242/);
  });

  it('on a v1-only host takes CPU time from cpuacct', async () => {
    const cgroups = await host([
      line(32, at('cpu,cpuacct'), 'cgroup', 'rw,cpu,cpuacct'),
      line(35, at('memory'), 'cgroup', 'rw,memory'),
    ]);
    expect(await cgroups.layout()).toEqual({
      mode: 'v1',
      controllers: { cpu: 'v1', memory: 'v1', pids: 'none' },
    });
    const info = await cgroups.create('mvm-a1', limits);
    expect(info.unavailable).toEqual(['pids']);
    expect(info.dirs).toEqual([
      at('cpu,cpuacct', 'mvm.slice', 'mvm-a1'),
      at('memory', 'mvm.slice', 'mvm-a1'),
    ]);
    await writeFile(at('cpu,cpuacct', 'mvm.slice', 'mvm-a1', 'cpuacct.usage'), '7000123\n');
    expect(await cgroups.cpuUsageUsec('mvm-a1')).toBe(7000);
    expect(await cgroups.cpuUsageUsec('mvm-gone')).toBeUndefined();
  });

  it('on a unified host is cgroup2 alone', async () => {
    const cgroups = await host([line(41, at('unified'), 'cgroup2', 'rw')], 'cpu memory pids\n');
    expect(await cgroups.layout()).toEqual({
      mode: 'v2',
      controllers: { cpu: 'v2', memory: 'v2', pids: 'v2' },
    });
    const info = await cgroups.create('mvm-a1', limits);
    expect(info.dirs).toEqual([at('unified', 'mvm.slice', 'mvm-a1')]);
    expect(await read('unified', 'mvm.slice', 'mvm-a1', 'cpu.max')).toBe('200000 100000');
  });

  it('without any cgroup says none and applies nothing', async () => {
    const cgroups = await host([line(22, at('data'), 'ext4', 'rw')]);
    expect((await cgroups.layout()).mode).toBe('none');
    expect(await cgroups.create('mvm-a1', limits)).toMatchObject({
      dirs: [],
      applied: [],
      unavailable: ['vcpus', 'memMib', 'pids'],
    });
    expect(await cgroups.oomKills('mvm-a1')).toBe(0);
  });
});

describe('findCgroupV1Mounts', () => {
  it('lists controller hierarchies, not named ones, preferring the root mount', () => {
    const text = [
      '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
      '40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
      '90 80 0:32 /docker/abc /mnt/mem rw - cgroup cgroup rw,memory',
      '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
      '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(findCgroupV1Mounts(text)).toEqual([
      { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
      { mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
    ]);
    expect(parseMountinfo(text)).toHaveLength(5);
  });
});
