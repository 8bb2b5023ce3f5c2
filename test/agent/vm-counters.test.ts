import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ioCounters, VmCounterProbe } from '../../src/drivers/metrics/vm-counters.ts';
import { tapCounters } from '../../src/drivers/activity/host-activity-probe.ts';

const netDev = [
  'Inter-|   Receive                                                |  Transmit',
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
  '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
  'mvt4-2:    7000      10    0    0    0     0          0         0     3000       5    0    0    0     0       0          0',
].join('\n');

describe('VM counters from procfs', () => {
  let root = '';
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('reads tap bytes each way and block I/O', () => {
    expect(tapCounters(netDev, 'mvt4-2')).toEqual({ rx: 7000, tx: 3000 });
    expect(tapCounters(netDev, 'mvt9-9')).toBeUndefined();
    const io = 'rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\n';
    expect(ioCounters(io)).toEqual({ read: 4096, write: 8192 });
    expect(ioCounters('rchar: 10\n')).toBeUndefined();
  });

  it('reads one VMM: CPU from its cgroup when it has one, else from its process', async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-proc-'));
    const proc = join(root, '4242');
    await mkdir(join(proc, 'net'), { recursive: true });
    await writeFile(join(proc, 'stat'), '4242 (qemu) S 1 4242 4242 0 -1 0 0 0 0 0 250 50 0 0');
    await writeFile(join(proc, 'status'), 'Name:\tqemu\nVmRSS:\t  2048 kB\n');
    await writeFile(join(proc, 'net', 'dev'), netDev);
    await writeFile(join(proc, 'io'), 'read_bytes: 1\nwrite_bytes: 2\n');
    const vm = { key: 'acme-web-a', pid: 4242, tap: 'mvt4-2' };
    expect(await new VmCounterProbe({ procRoot: root }).read(vm)).toEqual({
      cpuUsec: 3_000_000,
      cpuSource: '4242',
      rssBytes: 2048 * 1024,
      netRxBytes: 7000,
      netTxBytes: 3000,
      blockReadBytes: 1,
      blockWriteBytes: 2,
    });
    const cgroups = { cpuUsageUsec: async () => 77 };
    expect(await new VmCounterProbe({ procRoot: root, cgroups }).read(vm)).toMatchObject({
      cpuUsec: 77,
      cpuSource: 'cgroup',
    });
  });
});
