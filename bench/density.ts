/**
 * What an idle instance costs the host (`npx tsx bench/density.ts [memMib] [idle seconds]`,
 * default 256 MiB and 20 s; `MVM_BENCH_GUESTS` guests at once, default 3; `--no-balloon` adds
 * the variant without the balloon). QEMU, TCG here. In one run, each variant boots its guests
 * together, each does what a demo guest does once (fills and frees 100 MiB of tmpfs, walks its
 * filesystems: a build, a cache warm-up), idles, and is measured running, then warm (paused):
 *
 * - before: the driver's defaults before (the free-page-reporting balloon, a 64 MiB translation
 *   cache);
 * - after: the balloon, a smaller translation cache (the driver's 16 MiB now, the agent's
 *   MVM_QEMU_TCG_CACHE_MIB; `MVM_BENCH_SMALL_TB`: a comma-separated list, a variant each) and the
 *   warm reclaim (the agent's MVM_WARM_RECLAIM: before the pause the guest drops its caches and
 *   reports them free, agent/runtime/warm-reclaim.ts).
 *
 * Printed per variant and phase, the mean over its guests (MiB):
 *
 * - the VMM's VmRSS (every resident page in full), PSS (pages shared with other processes split
 *   among them: QEMU's binary and libraries, the guest kernel file every VMM of the image maps),
 *   USS (what only this VMM maps), anonymous memory (guest RAM, heap, translation cache: what the
 *   host cannot drop), and the file pages' PSS share;
 * - the guest RAM mapping's resident pages and the VMM's own anonymous memory beside it;
 * - the guest's working set by its own /proc/meminfo (MemTotal - MemFree, page cache included),
 *   its page cache, and its kernel's reserve (RAM - MemTotal: kernel image, struct pages);
 * - PSS - working set (issue 16's goal: at most 16 MiB for an idle warm guest) and anonymous -
 *   working set (what would remain with the shared pages spread over many VMMs);
 * - the mean boot (start to the guest agent's hello) and workload seconds: what a smaller
 *   translation cache costs under TCG (noisy on a loaded host; one run).
 *
 * Unconfined (the figures are the same confined: the same mappings, another uid). Other QEMUs
 * on the host (counted in the output) share QEMU's pages too and lower every PSS.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_WARM_RECLAIM, guestReclaim } from '../src/agent/runtime/warm-reclaim.ts';
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
  vmmRollup,
  vmmSplit,
} from '../test/support/guest-memory.ts';
import { shortWorkDir } from '../test/support/qemu-guest.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const memMib = Number(args[0] ?? 256);
const idleSecs = Number(args[1] ?? 20);
const guests = Number(process.env['MVM_BENCH_GUESTS'] ?? 3);
const withoutBalloon = process.argv.includes('--no-balloon');
/** The driver's translation cache before this bench's changes. */
const BEFORE_TB_MIB = 64;
/** Smaller translation caches, one "after" variant each; default the driver's (16). */
const SMALL_TB_MIB = (process.env['MVM_BENCH_SMALL_TB'] ?? String(TCG_TB_SIZE_MIB))
  .split(',')
  .map(Number);
const runner = new NodeProcessRunner();

interface Variant {
  name: string;
  balloon: boolean;
  tbSizeMib: number;
  reclaim: boolean;
}

interface Sample {
  rss: number;
  pss: number;
  uss: number;
  anon: number;
  pssFile: number;
  guestRam: number;
  ownAnon: number;
  workingSet: number;
  cache: number;
  reserved: number;
}

interface Row extends Sample {
  variant: string;
  phase: 'running' | 'warm';
  qemus: number;
  /** Mean seconds from start to the guest agent's hello, and of the workload (TCG's cost). */
  bootS: number;
  workS: number;
}

interface Guest {
  vm: VmHandle;
  client: GuestAgentClient;
  workDir: string;
}

/** Every qemu-system process on the host (other users' share QEMU's pages too). */
async function qemuCount(): Promise<number> {
  let count = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (comm.startsWith('qemu-system')) count += 1;
  }
  return count;
}

async function sample(
  guest: Guest,
  guestView: Awaited<ReturnType<typeof guestWorkingSetMib>>,
): Promise<Sample> {
  const [rollup, split] = await Promise.all([
    vmmRollup(guest.vm.pid),
    vmmSplit(guest.vm.pid, memMib),
  ]);
  return {
    ...rollup,
    guestRam: split.guestRam,
    ownAnon: split.ownAnon,
    workingSet: guestView.used,
    cache: guestView.cache,
    reserved: guestView.reserved,
  };
}

function mean(samples: readonly Sample[]): Sample {
  const keys = Object.keys(samples[0] ?? {}) as Array<keyof Sample>;
  const out = {} as Sample;
  for (const key of keys) out[key] = samples.reduce((s, x) => s + x[key], 0) / samples.length;
  return out;
}

async function boot(vmm: QemuVmm, image: Awaited<ReturnType<typeof buildDevImage>>, tag: string) {
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
  const vm = await vmm.start(spec);
  const client = new GuestAgentClient(unixSocketTransport(vm.guestSocket), {
    requestTimeoutMs: 120_000,
  });
  const guest = { vm, client, workDir };
  await client.waitReady(300_000);
  return guest;
}

/** What a demo guest does once: a burst of memory, a walk of its files (page cache, slab). */
async function workload(guest: Guest): Promise<void> {
  await guestSh(guest.client, guestHogCommand(100));
  await guestSh(guest.client, GUEST_FREE_COMMAND);
  await guestSh(
    guest.client,
    'find / -xdev -type f 2>/dev/null | head -2000 | xargs cat >/dev/null 2>&1; echo ok',
  );
}

async function reclaim(guest: Guest): Promise<void> {
  const exit = await guestReclaim(guest.client, DEFAULT_WARM_RECLAIM.timeoutMs);
  if (exit.code !== 0) throw new Error(`the guest's reclaim failed: ${JSON.stringify(exit)}`);
}

async function measure(variant: Variant, index: number): Promise<Row[]> {
  const image = await buildDevImage({ runner });
  const vmm = new QemuVmm({
    runner,
    accel: 'tcg',
    balloon: variant.balloon,
    tcgTbSizeMib: variant.tbSizeMib,
  });
  const booted: Guest[] = [];
  try {
    const tags = Array.from({ length: guests }, (_, i) => `v${index}g${i}`);
    const bootMs: number[] = [];
    await Promise.all(
      tags.map(async (tag) => {
        const t0 = Date.now();
        booted.push(await boot(vmm, image, tag));
        bootMs.push(Date.now() - t0);
      }),
    );
    const workMs = await Promise.all(
      booted.map(async (g) => {
        const t0 = Date.now();
        await workload(g);
        return Date.now() - t0;
      }),
    );
    const secs = (ms: number[]) => ms.reduce((a, b) => a + b, 0) / ms.length / 1000;
    const times = { bootS: secs(bootMs), workS: secs(workMs) };
    await sleep(idleSecs * 1000);
    const qemusRunning = await qemuCount();
    const running = await Promise.all(
      booted.map(async (g) => sample(g, await guestWorkingSetMib(g.client, memMib))),
    );
    // The agent's warm: the reclaim (when on) and the time reporting takes, then the pause.
    if (variant.reclaim) {
      await Promise.all(booted.map(reclaim));
      await sleep(DEFAULT_WARM_RECLAIM.settleMs);
    }
    const atPause = await Promise.all(booted.map((g) => guestWorkingSetMib(g.client, memMib)));
    await Promise.all(booted.map((g) => vmm.pause(g.vm)));
    await sleep(5_000);
    const qemusWarm = await qemuCount();
    const warm = await Promise.all(booted.map((g, i) => sample(g, atPause[i]!)));
    return [
      { variant: variant.name, phase: 'running', qemus: qemusRunning, ...times, ...mean(running) },
      { variant: variant.name, phase: 'warm', qemus: qemusWarm, ...times, ...mean(warm) },
    ];
  } finally {
    for (const g of booted) {
      g.client.close();
      await vmm.stop(g.vm).catch(() => undefined);
      await rm(g.workDir, { recursive: true, force: true });
    }
  }
}

const variants: Variant[] = [
  ...(withoutBalloon
    ? [{ name: 'no balloon, tb 64', balloon: false, tbSizeMib: BEFORE_TB_MIB, reclaim: false }]
    : []),
  { name: 'before: balloon, tb 64', balloon: true, tbSizeMib: BEFORE_TB_MIB, reclaim: false },
  ...SMALL_TB_MIB.map((tbSizeMib) => ({
    name: `after: tb ${tbSizeMib}, reclaim`,
    balloon: true,
    tbSizeMib,
    reclaim: true,
  })),
];
const rows: Row[] = [];
for (const [index, variant] of variants.entries()) rows.push(...(await measure(variant, index)));

const f = (n: number) => n.toFixed(1).padStart(6);
console.log(
  `\ndensity: ${memMib} MiB dev guests (TCG), ${guests} at once per variant, idle ${idleSecs} s after filling and freeing 100 MiB and reading their files; mean per guest, MiB\n`,
);
console.log(
  'variant                 phase    qemus    RSS    PSS    USS   anon pssFile guestRAM ownAnon     ws  cache reserve PSS-ws anon-ws  boot s  work s',
);
for (const r of rows) {
  console.log(
    `${r.variant.padEnd(23)} ${r.phase.padEnd(8)} ${String(r.qemus).padStart(5)} ${f(r.rss)} ${f(r.pss)} ${f(r.uss)} ${f(r.anon)}  ${f(r.pssFile)}   ${f(r.guestRam)}  ${f(r.ownAnon)} ${f(r.workingSet)} ${f(r.cache)}  ${f(r.reserved)} ${f(r.pss - r.workingSet)}  ${f(r.anon - r.workingSet)}  ${f(r.bootS)}  ${f(r.workS)}`,
  );
}
