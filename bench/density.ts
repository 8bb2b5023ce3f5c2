/**
 * What an idle instance costs the host (`npx tsx bench/density.ts [memMib] [idle seconds]`,
 * default 256 MiB and 20 s; QEMU, TCG here): one dev-image guest without the free-page-reporting
 * balloon (drivers/qemu/qemu-balloon.ts), one with it, and one with it and a 16 MiB TCG
 * translation cache instead of the driver's 64 (MVM_BENCH_SMALL_TB), in one run. Each boots, does what a
 * demo guest does once (fills and frees 100 MiB of tmpfs: a build, a cache warm-up), then
 * idles. Printed for each, idle running and then warm (paused):
 *
 * - the VMM's resident memory (VmRSS), split into the guest RAM mapping's resident pages and
 *   the VMM's own (everything else in /proc/<pid>/smaps: heap, devices, the TCG translation
 *   cache, binary and libraries);
 * - the guest's working set by its own /proc/meminfo (MemTotal - MemFree, through the agent);
 * - RSS minus the working set: issue 16's goal is at most 16 MiB for an idle warm guest.
 *
 * Unconfined (the figures are the same confined: the same mappings, another uid).
 */
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { GuestAgentClient } from '../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { TCG_TB_SIZE_MIB } from '../src/drivers/qemu/qemu-memory.ts';
import { QemuVmm } from '../src/drivers/qemu/qemu-vmm.ts';
import type { VmHandle, VmSpec } from '../src/ports/vmm.ts';
import {
  GUEST_FREE_COMMAND,
  guestHogCommand,
  guestSh,
  guestWorkingSetMib,
  vmmSplit,
} from '../test/support/guest-memory.ts';
import { shortWorkDir } from '../test/support/qemu-guest.ts';

const memMib = Number(process.argv[2] ?? 256);
const idleSecs = Number(process.argv[3] ?? 20);
const runner = new NodeProcessRunner();

interface Row {
  variant: string;
  phase: 'running' | 'warm';
  rss: number;
  guestRam: number;
  own: number;
  ownAnon: number;
  workingSet: number;
  reserved: number;
}

async function measure(balloon: boolean, tbSizeMib?: number): Promise<Row[]> {
  const image = await buildDevImage({ runner });
  const vmm = new QemuVmm({
    runner,
    accel: 'tcg',
    balloon,
    ...(tbSizeMib === undefined ? {} : { tcgTbSizeMib: tbSizeMib }),
  });
  const tag = `${balloon ? 'b' : 'n'}${tbSizeMib ?? ''}`;
  const workDir = await shortWorkDir(`dens-${tag}`);
  const spec: VmSpec = {
    key: `mvm-bench-density-${tag}`,
    workDir,
    vcpus: 1,
    memMib,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=density mvm.ip=10.240.96.2/24`,
    drives: imageDrives(image),
    nets: [],
  };
  let vm: VmHandle | undefined;
  const client = (v: VmHandle) =>
    new GuestAgentClient(unixSocketTransport(v.guestSocket), { requestTimeoutMs: 60_000 });
  let guest: GuestAgentClient | undefined;
  try {
    vm = await vmm.start(spec);
    guest = client(vm);
    await guest.waitReady(240_000);
    await guestSh(guest, guestHogCommand(100));
    await guestSh(guest, GUEST_FREE_COMMAND);
    await sleep(idleSecs * 1000);
    const variant = `${balloon ? 'balloon' : 'no balloon'}, tb ${tbSizeMib ?? TCG_TB_SIZE_MIB}`;
    const { used: workingSet, reserved } = await guestWorkingSetMib(guest, memMib);
    const order = await guestSh(
      guest,
      'cat /sys/module/page_reporting/parameters/page_reporting_order 2>/dev/null || echo -',
    );
    console.log(`${variant}: guest page_reporting_order ${order.trim()}`);
    const running = await vmmSplit(vm.pid, memMib);
    await vmm.pause(vm);
    await sleep(5_000);
    const warm = await vmmSplit(vm.pid, memMib);
    const row = (phase: Row['phase'], m: typeof running): Row => ({
      variant,
      phase,
      rss: m.total,
      guestRam: m.guestRam,
      own: m.own,
      ownAnon: m.ownAnon,
      workingSet,
      reserved,
    });
    return [row('running', running), row('warm', warm)];
  } finally {
    guest?.close();
    if (vm) await vmm.stop(vm).catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  }
}

/** A smaller translation cache than the driver's default, to show what it would save. */
const SMALL_TB_MIB = Number(process.env['MVM_BENCH_SMALL_TB'] ?? 16);
const rows = [
  ...(await measure(false)),
  ...(await measure(true)),
  ...(await measure(true, SMALL_TB_MIB)),
];
const f = (n: number) => n.toFixed(1).padStart(7);
console.log(
  `\ndensity: ${memMib} MiB dev guest (TCG), idle ${idleSecs} s after filling and freeing 100 MiB\n`,
);
console.log(
  'MiB; guest RAM = resident pages of the guest RAM mapping; VMM own = the rest of VmRSS (own anon:',
);
console.log(
  'its private part, the rest is the binary and libraries, shared by every VM); working set =',
);
console.log(
  "the guest's MemTotal - MemFree; reserved = RAM - MemTotal (kernel image, struct pages)\n",
);
console.log(
  'variant               phase     VMM RSS  guest RAM  VMM own  own anon  working set  reserved  RSS - ws  guest RAM - ws',
);
for (const r of rows) {
  console.log(
    `${r.variant.padEnd(21)} ${r.phase.padEnd(8)} ${f(r.rss)}  ${f(r.guestRam)}  ${f(r.own)}  ${f(r.ownAnon)}  ${f(r.workingSet)}  ${f(r.reserved)}  ${f(r.rss - r.workingSet)}  ${f(r.guestRam - r.workingSet)}`,
  );
}
