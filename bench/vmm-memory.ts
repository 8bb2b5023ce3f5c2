/**
 * What a confined QEMU holds beyond its guest's RAM (`npx tsx bench/vmm-memory.ts [MiB...]`,
 * default 256 512): the figure the cgroup memory limit adds to guest RAM (qemu-memory.ts).
 *
 * Each guest boots in its own cgroup with room to spare, touches all the RAM it can (a `dd`
 * whose one buffer is nearly all of MemAvailable, then a read of every file), sleeps and
 * wakes; the peak of its memory cgroup (memory.max_usage_in_bytes on v1, memory.peak on v2)
 * and the VMM's VmHWM and RssAnon are printed, minus guest RAM. With `--limit` the cgroup gets
 * the agent's limit (guest RAM + the driver's figure) and the run must see no OOM kill.
 * Needs root and cgroups.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestLinks } from '../src/agent/runtime/guest-links.ts';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { HostCgroups } from '../src/drivers/cgroups/host-cgroups.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { createQemuVmm } from '../src/drivers/qemu/create-qemu-vmm.ts';
import { silentLogger } from '../src/ports/logger.ts';
import type { VmHandle, VmSpec } from '../src/ports/vmm.ts';

const tight = process.argv.includes('--limit');
const sizes = process.argv
  .slice(2)
  .filter((a) => a !== '--limit')
  .map(Number);
const MiB = 1024 * 1024;
const runner = new NodeProcessRunner();
const cgroups = new HostCgroups();
const links = new GuestLinks('virtio-serial', silentLogger, 60_000);

/** Touches nearly all of the guest's free memory, then its files' pages. */
const HOG =
  "a=$(sed -n 's/^MemAvailable: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo); " +
  'dd if=/dev/zero of=/dev/null bs=$((a - 12288))k count=1 2>/dev/null; ' +
  'find / -xdev -type f 2>/dev/null | head -3000 | xargs cat >/dev/null 2>&1; echo ok';

async function guestRun(vm: VmHandle, command: string): Promise<void> {
  const run = await links.for(vm).exec({ argv: ['sh', '-c', command] });
  run.stdout.resume();
  run.stderr.resume();
  await run.exit;
}

async function peakMib(dirs: readonly string[]): Promise<number> {
  for (const dir of dirs) {
    for (const file of ['memory.max_usage_in_bytes', 'memory.peak']) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => undefined);
      if (text !== undefined) return Number(text) / MiB;
    }
  }
  return Number.NaN;
}

async function statusMib(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1]) / 1024;
}

async function measure(memMib: number): Promise<void> {
  const image = await buildDevImage({ runner });
  const { vmm, verdict } = await createQemuVmm({ runner, confine: true });
  const dir = await mkdtemp(join(tmpdir(), 'mvm-mem-'));
  const key = `mvm-bench-mem-${memMib}`;
  // Room to spare, so the peak is what the VMM takes; `--limit` applies the driver's figure
  // instead, proving a healthy VMM lives within it.
  const overhead = (await vmm.capabilities()).memOverheadMib;
  const limit = tight ? memMib + overhead : memMib * 4;
  const info = await cgroups.create(key, { vcpus: 1, memMib: limit, pids: 256 });
  const spec: VmSpec = {
    key,
    workDir: join(dir, 'vm'),
    vcpus: 1,
    memMib,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=mem mvm.ip=10.240.97.2/24`,
    drives: imageDrives(image),
    nets: [],
    cgroupDirs: info.dirs,
    runAs: { uid: 2_000_000_950, gid: 2_000_000_950 },
  };
  try {
    let vm = await vmm.start(spec);
    await links.for(vm).waitReady(90_000);
    await guestRun(vm, HOG);
    await guestRun(vm, HOG);
    const hwm = await statusMib(vm.pid, 'VmHWM');
    const anon = await statusMib(vm.pid, 'RssAnon');
    await vmm.pause(vm);
    const snap = await vmm.snapshot(vm, join(dir, 'snap'), 'full');
    await vmm.stop(vm);
    links.drop(key);
    vm = await vmm.restore(spec, snap);
    await vmm.resume(vm);
    await links.for(vm).waitReady(20_000);
    await guestRun(vm, HOG);
    const peak = await peakMib(info.dirs);
    console.log(
      `${String(memMib).padStart(5)} MiB guest (${verdict.accel}): cgroup peak ${peak.toFixed(1)} MiB (+${(peak - memMib).toFixed(1)}), ` +
        `VmHWM ${hwm.toFixed(1)} (+${(hwm - memMib).toFixed(1)}), RssAnon ${anon.toFixed(1)} (+${(anon - memMib).toFixed(1)}); ` +
        `driver overhead figure ${overhead} MiB; limit ${limit} MiB, OOM kills ${await cgroups.oomKills(key)}`,
    );
    await vmm.stop(vm);
  } finally {
    links.closeAll();
    await cgroups.remove(key).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

for (const memMib of sizes.length > 0 ? sizes : [256, 512]) await measure(memMib);
