import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostError } from '../../../src/core/errors.ts';
import { CgroupV2, SLICE } from '../../../src/drivers/cgroup-v2/cgroup-v2.ts';
import { readCgroup2Mount } from '../../../src/drivers/cgroup-v2/cgroup2-mount.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';

const mount = await readCgroup2Mount('/proc/self/mountinfo');
const isRoot = process.getuid?.() === 0;
const missing = !isRoot ? 'needs root' : mount === undefined ? 'no cgroup2 mount' : undefined;
if (missing) console.warn(`[skip] CgroupV2 on the real cgroup2 hierarchy: ${missing}`);

describe.skipIf(missing !== undefined)('CgroupV2 on the real cgroup2 hierarchy', () => {
  it('places a real process, limits what the host allows, and cleans up', async () => {
    const cgroups = new CgroupV2();
    const key = `mvm-test-${randomBytes(4).toString('hex')}`;
    const child = new NodeProcessRunner().spawn('sleep', ['30']);
    try {
      const info = await cgroups.create(key, { vcpus: 1, memMib: 256, pids: 64 });
      console.info(
        `[cgroup2] mount ${await cgroups.mountPoint()}: applied [${info.applied.join(', ')}], unavailable [${info.unavailable.join(', ')}]`,
      );
      await expectLimitFiles(info.dir, info.applied);
      expect(await cgroups.cpuUsageUsec(key)).toBe(0);

      await cgroups.place(key, child.pid);
      expect(await cgroups.pids(key)).toEqual([child.pid]);
      const membership = await readFile(`/proc/${child.pid}/cgroup`, 'utf8');
      expect(membership.split('\n')).toContain(`0::/${SLICE}/${key}`);
      expect(await cgroups.list()).toContain(key);

      const busy = new CgroupV2({ removeTimeoutMs: 100 });
      await expect(busy.remove(key)).rejects.toThrow(HostError);
      await expect(busy.remove(key)).rejects.toThrow(String(child.pid));

      // No wait for the exit: remove() must ride out the moment the process takes to leave.
      child.kill('SIGKILL');
      await cgroups.remove(key);
      expect(existsSync(info.dir)).toBe(false);
      expect(await cgroups.list()).not.toContain(key);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
      await cgroups.remove(key).catch(() => undefined);
      if ((await cgroups.list()).length === 0) await rmdir(join(mount ?? '', SLICE));
    }
  });

  it("counts the CPU time of the cgroup's processes (cpu.stat without the cpu controller)", async () => {
    const cgroups = new CgroupV2();
    const key = `mvm-test-${randomBytes(4).toString('hex')}`;
    // Once it is surely in the cgroup: 400 ms of its own CPU time, then it exits.
    const busy = 'const s = process.cpuUsage(); while (process.cpuUsage(s).user < 400000);';
    const child = new NodeProcessRunner().spawn(process.execPath, [
      '-e',
      `setTimeout(() => { ${busy} }, 500)`,
    ]);
    try {
      await cgroups.create(key, { vcpus: 1, memMib: 256, pids: 64 });
      await cgroups.place(key, child.pid);
      await child.exited;
      expect(await cgroups.cpuUsageUsec(key)).toBeGreaterThanOrEqual(400_000);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
      await cgroups.remove(key).catch(() => undefined);
      if ((await cgroups.list()).length === 0) await rmdir(join(mount ?? '', SLICE));
    }
  });
});

async function expectLimitFiles(dir: string, applied: readonly string[]): Promise<void> {
  const read = (file: string): Promise<string> => readFile(join(dir, file), 'utf8');
  if (applied.includes('vcpus')) expect(await read('cpu.max')).toBe('100000 100000\n');
  if (applied.includes('memMib')) expect(await read('memory.max')).toBe(`${256 * 1024 * 1024}\n`);
  if (applied.includes('pids')) expect(await read('pids.max')).toBe('64\n');
}
