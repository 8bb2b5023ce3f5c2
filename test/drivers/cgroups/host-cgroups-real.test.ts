/**
 * HostCgroups on this host's real hierarchies (hybrid here: cgroup2 with hugetlb only, cpu,
 * memory and pids on v1): membership in every hierarchy, the limit files, and pids.max
 * holding a process that tries to start more tasks than allowed. Skips loudly without root.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostCgroups } from '../../../src/drivers/cgroups/host-cgroups.ts';
import { sendSignal } from '../../../src/drivers/process/process-control.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';

const isRoot = process.getuid?.() === 0;
const cgroups = new HostCgroups();
const layout = await cgroups.layout();
const missing = !isRoot ? 'needs root' : layout.mode === 'none' ? 'no cgroups here' : undefined;
if (missing) console.warn(`[skip] HostCgroups on the real hierarchies: ${missing}`);
else console.info(`[cgroups] ${layout.mode}: ${JSON.stringify(layout.controllers)}`);

const runner = new NodeProcessRunner();
const newKey = (): string => `mvm-test-${randomBytes(4).toString('hex')}`;

describe.skipIf(missing !== undefined)('HostCgroups on the real hierarchies', () => {
  it('places a process in every hierarchy and writes each limit where its controller is', async () => {
    const key = newKey();
    const child = runner.spawn('sleep', ['30']);
    try {
      const info = await cgroups.create(key, { vcpus: 0.5, memMib: 300, pids: 64 });
      const available = Object.entries(layout.controllers).filter(([, w]) => w !== 'none');
      expect(info.applied).toHaveLength(available.length);
      for (const dir of info.dirs) expect(existsSync(dir)).toBe(true);
      await cgroups.place(key, child.pid);
      expect(await cgroups.pids(key)).toEqual([child.pid]);
      const membership = await readFile(`/proc/${child.pid}/cgroup`, 'utf8');
      // One line per hierarchy the instance uses, each ending in its cgroup.
      const inOurs = membership.split('\n').filter((l) => l.endsWith(`/mvm.slice/${key}`));
      expect(inOurs).toHaveLength(info.dirs.length);
      await expectLimits(info.dirs);
      expect(await cgroups.oomKills(key)).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
      await cgroups.remove(key);
    }
    expect(await cgroups.list()).not.toContain(key);
  });

  it('pids.max holds a process that tries to start 100 tasks to the limit', async (ctx) => {
    if (layout.controllers.pids === 'none') {
      console.warn('[skip] pids.max: no pids controller on this host');
      ctx.skip();
      return;
    }
    const key = newKey();
    const limit = 12;
    // Waits until it is surely in the cgroup, then forks 100 sleepers: only `limit` tasks fit.
    const script = 'sleep 0.5; i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done; wait';
    const child = runner.spawn('sh', ['-c', script]);
    try {
      const info = await cgroups.create(key, { vcpus: 1, memMib: 256, pids: limit });
      await cgroups.place(key, child.pid);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const pidsDir = info.dirs.find((d) => existsSync(join(d, 'pids.max'))) ?? '';
      const current = Number(await readFile(join(pidsDir, 'pids.current'), 'utf8'));
      expect(current).toBeLessThanOrEqual(limit);
      expect(current).toBeGreaterThan(limit / 2);
      const events = await readFile(join(pidsDir, 'pids.events'), 'utf8');
      expect(Number(/^max (\d+)/m.exec(events)?.[1])).toBeGreaterThan(0);
    } finally {
      for (const pid of await cgroups.pids(key)) sendSignal(pid, 'SIGKILL');
      child.kill('SIGKILL');
      await child.exited;
      await cgroups.remove(key);
    }
  });
});

async function expectLimits(dirs: readonly string[]): Promise<void> {
  const read = async (file: string): Promise<string | undefined> => {
    const dir = dirs.find((d) => existsSync(join(d, file)));
    return dir === undefined ? undefined : (await readFile(join(dir, file), 'utf8')).trim();
  };
  if (layout.controllers.cpu === 'v1') {
    expect(await read('cpu.cfs_quota_us')).toBe('50000');
    expect(await read('cpu.cfs_period_us')).toBe('100000');
  }
  if (layout.controllers.cpu === 'v2') expect(await read('cpu.max')).toBe('50000 100000');
  const mem = String(300 * 1024 * 1024);
  if (layout.controllers.memory === 'v1') expect(await read('memory.limit_in_bytes')).toBe(mem);
  if (layout.controllers.memory === 'v2') expect(await read('memory.max')).toBe(mem);
  if (layout.controllers.pids !== 'none') expect(await read('pids.max')).toBe('64');
}
