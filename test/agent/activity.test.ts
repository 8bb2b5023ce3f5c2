import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GUEST_IDLE_SHARE,
  MIN_GUEST_TICKS,
  UNEXPLAINED_VMM_SHARE,
  wasActive,
  type CounterSample,
} from '../../src/agent/activity/activity-decision.ts';
import { ActivityTracker } from '../../src/agent/activity/activity-tracker.ts';
import {
  HostActivityProbe,
  processCpuUsec,
  tapBytes,
} from '../../src/drivers/activity/host-activity-probe.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import type { ActivityCounters } from '../../src/ports/activity-probe.ts';
import type { SpawnedProcess } from '../../src/ports/process-runner.ts';

const sample = (atMs: number, counters: ActivityCounters, pid = 100): CounterSample => ({
  atMs,
  pid,
  ...counters,
});

describe('wasActive', () => {
  it('is active above 7.5% of one CPU or 128 B/s of tap traffic over the interval', () => {
    const before = sample(0, { cpuUsec: 1_000_000, netBytes: 50_000 });
    // 10 s: 7.5% of one CPU is 750 ms of CPU time; 128 B/s is 1,280 bytes.
    expect(wasActive(before, sample(10_000, { cpuUsec: 1_750_000, netBytes: 51_280 }))).toBe(false);
    expect(wasActive(before, sample(10_000, { cpuUsec: 1_750_001, netBytes: 50_000 }))).toBe(true);
    expect(wasActive(before, sample(10_000, { cpuUsec: 1_000_000, netBytes: 51_281 }))).toBe(true);
    // What an idle TCG guest measured at (bench/idle-thresholds.ts) is idle.
    expect(wasActive(before, sample(10_000, { cpuUsec: 1_671_000, netBytes: 50_280 }))).toBe(false);
  });

  it('learns nothing across VMM processes, backwards counters, missing ones or no elapsed time', () => {
    const before = sample(0, { cpuUsec: 1_000_000, netBytes: 0 });
    expect(wasActive(before, sample(1_000, { cpuUsec: 9_000_000 }, 101))).toBe(false);
    expect(wasActive(before, sample(1_000, { cpuUsec: 0, netBytes: 0 }))).toBe(false);
    expect(wasActive(before, sample(1_000, {}))).toBe(false);
    expect(wasActive(before, sample(0, { cpuUsec: 9_000_000 }))).toBe(false);
    expect(wasActive(sample(0, {}), sample(1_000, { netBytes: 1e9 }))).toBe(false);
  });

  it("lets a guest's own idle account overrule a VMM it does not explain, nothing else", () => {
    const guest = (atMs: number, cpuUsec: number, busy: number, idle: number, netBytes = 0) => ({
      ...sample(atMs, { cpuUsec, netBytes }),
      guestCpu: { busy, idle },
    });
    const before = guest(0, 0, 1_000, 5_000);
    // 10 s, 1,000 guest ticks. The VMM at a whole CPU (stop 33's 1,015‰) while the guest was
    // 17% busy by its own account: idle.
    expect(wasActive(before, guest(10_000, 10_000_000, 1_170, 5_830))).toBe(false);
    // The guest busier than GUEST_IDLE_SHARE of its time: active, as the VMM says.
    expect(wasActive(before, guest(10_000, 10_000_000, 1_260, 5_740))).toBe(true);
    // The VMM within UNEXPLAINED_VMM_SHARE of what the guest did: the VMM decides, as before
    // (light work: 20% of a CPU, the guest 10% busy).
    expect(wasActive(before, guest(10_000, 2_000_000, 1_100, 5_900))).toBe(true);
    // Its traffic still counts whatever the guest says.
    expect(wasActive(before, guest(10_000, 10_000_000, 1_000, 6_000, 2_000))).toBe(true);
    // The guest cannot make an idle VMM busy.
    expect(wasActive(before, guest(10_000, 100_000, 2_000, 5_000))).toBe(false);
    // No say without both reports, across a guest reboot, or with too little guest time.
    expect(wasActive(before, sample(10_000, { cpuUsec: 10_000_000 }))).toBe(true);
    expect(wasActive(sample(0, { cpuUsec: 0 }), guest(10_000, 10_000_000, 1_000, 6_000))).toBe(
      true,
    );
    expect(wasActive(before, guest(10_000, 10_000_000, 10, 900))).toBe(true);
    const short = (idle: number) => guest(10_000, 10_000_000, 1_000, 5_000 + idle);
    expect(wasActive(before, short(MIN_GUEST_TICKS - 1))).toBe(true);
    expect(wasActive(before, short(MIN_GUEST_TICKS))).toBe(false);
    expect([UNEXPLAINED_VMM_SHARE, GUEST_IDLE_SHARE]).toEqual([0.25, 0.25]);
  });
});

describe('ActivityTracker', () => {
  it('stamps the sample time when a VM was busy since the last sample, per VMM process', async () => {
    const counters = new Map<string, ActivityCounters>();
    const tracker = new ActivityTracker({
      read: async ({ key }) => counters.get(key) ?? Promise.reject(new Error('gone')),
    });
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const vm = { key: 'mvm-a', pid: 7, tap: 'mvt1-2' };
    counters.set('mvm-a', { cpuUsec: 0 });
    await tracker.sample([vm], at(0));
    expect(tracker.lastActiveAt('mvm-a')).toBeUndefined();
    counters.set('mvm-a', { cpuUsec: 500_000 });
    await tracker.sample([vm], at(5));
    expect(tracker.lastActiveAt('mvm-a')).toBe(at(5).toISOString());
    await tracker.sample([vm], at(10)); // idle: the time stays
    expect(tracker.lastActiveAt('mvm-a')).toBe(at(5).toISOString());
    // Asleep (no process), then woken as a new process: a fresh baseline, not a jump.
    await tracker.sample([{ ...vm, pid: null }], at(15));
    counters.set('mvm-a', { cpuUsec: 900_000 });
    await tracker.sample([{ ...vm, pid: 8 }], at(20));
    expect(tracker.lastActiveAt('mvm-a')).toBe(at(5).toISOString());
    counters.delete('mvm-a'); // unreadable: no baseline, no decision
    await tracker.sample([{ ...vm, pid: 8 }], at(25));
    expect(tracker.lastActiveAt('mvm-a')).toBe(at(5).toISOString());
    await tracker.sample([], at(30));
    expect(tracker.lastActiveAt('mvm-a')).toBeUndefined();
  });

  it("keeps each sample's guest report: a busy VMM with an idle guest is not active", async () => {
    let cpuUsec = 0;
    const tracker = new ActivityTracker({ read: async () => ({ cpuUsec }) });
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const vm = { key: 'mvm-a', pid: 7, tap: 'mvt1-2' };
    await tracker.sample([{ ...vm, guestCpu: { busy: 100, idle: 1_000 } }], at(0));
    cpuUsec = 5_000_000; // a whole CPU for 5 s, the guest 10% busy
    await tracker.sample([{ ...vm, guestCpu: { busy: 150, idle: 1_450 } }], at(5));
    expect(tracker.lastActiveAt('mvm-a')).toBeUndefined();
    expect(tracker.usageOf('mvm-a').cpuPermille).toBe(1_000);
    cpuUsec = 10_000_000; // the guest says nothing this time: the VMM's CPU decides
    await tracker.sample([vm], at(10));
    expect(tracker.lastActiveAt('mvm-a')).toBe(at(10).toISOString());
  });
});

describe('HostActivityProbe on files', () => {
  let root = '';
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('parses /proc/<pid>/stat (odd command names too) and /proc/net/dev', () => {
    const stat = '4242 (qemu) sys (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0';
    expect(processCpuUsec(stat)).toBe(300 * 10_000);
    expect(processCpuUsec('')).toBeUndefined();
    const netDev = [
      'Inter-|   Receive                            |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes packets',
      '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
      'mvt42-3:    1500      10    0    0    0     0          0         0     2500      20    0    0    0     0       0          0',
    ].join('\n');
    expect(tapBytes(netDev, 'mvt42-3')).toBe(4000);
    expect(tapBytes(netDev, 'mvt42-4')).toBeUndefined();
  });

  it('prefers the cgroup CPU time and falls back to the process', async () => {
    root = await mkdtemp(join(tmpdir(), 'mvm-proc-'));
    await mkdir(join(root, '55', 'net'), { recursive: true });
    await writeFile(join(root, '55', 'stat'), '55 (qemu) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0');
    await writeFile(join(root, '55', 'net', 'dev'), 'tap0: 10 0 0 0 0 0 0 0 20 0 0 0 0 0 0 0\n');
    const vm = { key: 'mvm-a', pid: 55, tap: 'tap0' };
    const cgroups = { cpuUsageUsec: async (key: string) => (key === 'mvm-a' ? 42 : undefined) };
    expect(await new HostActivityProbe({ procRoot: root, cgroups }).read(vm)).toEqual({
      cpuUsec: 42,
      netBytes: 30,
    });
    expect(await new HostActivityProbe({ procRoot: root }).read(vm)).toEqual({
      cpuUsec: 100_000,
      netBytes: 30,
    });
    expect(await new HostActivityProbe({ procRoot: root }).read({ ...vm, pid: 56 })).toEqual({});
  });

  it("reads a real process's CPU time", async () => {
    const probe = new HostActivityProbe();
    const { cpuUsec } = await probe.read({ key: 'mvm-x', pid: process.pid, tap: 'none' });
    expect(cpuUsec).toBeGreaterThan(0);
  });
});

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('[skip] tap counters in a namespace: needs root (ip netns)');

describe.skipIf(!isRoot)('HostActivityProbe on a veth in namespaces the test owns', () => {
  const runner = new NodeProcessRunner();
  const prefix = `mvmt-${process.pid}-act`;

  it('sees the byte counters of the VMM-side interface move when packets flow', async () => {
    const [a, b] = [`${prefix}a`, `${prefix}b`];
    const ip = (args: string[]) => runner.run('ip', args);
    let vmm: SpawnedProcess | undefined;
    try {
      await ip(['netns', 'add', a]);
      await ip(['netns', 'add', b]);
      await ip([
        '-n',
        a,
        'link',
        'add',
        'mvt9-2',
        'type',
        'veth',
        'peer',
        'name',
        'peer0',
        'netns',
        b,
      ]);
      await ip(['-n', a, 'addr', 'add', '10.201.0.2/24', 'dev', 'mvt9-2']);
      await ip(['-n', b, 'addr', 'add', '10.201.0.3/24', 'dev', 'peer0']);
      await ip(['-n', a, 'link', 'set', 'mvt9-2', 'up']);
      await ip(['-n', b, 'link', 'set', 'peer0', 'up']);
      // A process living in namespace `a`, standing in for the VMM that holds the tap.
      vmm = runner.spawn('ip', ['netns', 'exec', a, 'sleep', '60']);
      const vm = { key: 'mvm-act', pid: vmm.pid, tap: 'mvt9-2' };
      const probe = new HostActivityProbe();
      const tracker = new ActivityTracker(probe);
      const first = await waitForCounters(probe, vm);
      await tracker.sample([vm], new Date(0));

      const send =
        "const s = require('node:dgram').createSocket('udp4'); let n = 0;" +
        "const next = () => s.send(Buffer.alloc(1000), 9, '10.201.0.3', () => (++n < 8 ? next() : s.close()));" +
        'next();';
      await runner.run('ip', ['netns', 'exec', a, process.execPath, '-e', send]);

      const second = await probe.read(vm);
      expect((second.netBytes ?? 0) - (first.netBytes ?? 0)).toBeGreaterThan(8_000);
      await tracker.sample([vm], new Date(2_000));
      expect(tracker.lastActiveAt('mvm-act')).toBe(new Date(2_000).toISOString());
      await tracker.sample([vm], new Date(4_000));
      expect(tracker.lastActiveAt('mvm-act')).toBe(new Date(2_000).toISOString());
    } finally {
      vmm?.kill('SIGKILL');
      await vmm?.exited;
      await runner.run('ip', ['netns', 'del', a], { check: false });
      await runner.run('ip', ['netns', 'del', b], { check: false });
    }
  });
});

/** `ip netns exec` enters the namespace before it execs: wait until the tap is visible. */
async function waitForCounters(
  probe: HostActivityProbe,
  vm: { key: string; pid: number; tap: string },
): Promise<ActivityCounters> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const counters = await probe.read(vm);
    if (counters.netBytes !== undefined) return counters;
    if (Date.now() > deadline) throw new Error(`no counters for ${vm.tap} via pid ${vm.pid}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
