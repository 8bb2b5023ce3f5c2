/**
 * Raw Vmm driver timings for every driver available on this host, medians of N runs
 * (`npx tsx bench/vmm-lifecycle.ts [N]`, default 3): cold start (to guest-ready where the
 * driver's guest boots here, else to VMM running, and labelled so), pause, resume, full (and
 * diff) snapshot, restore, wake. Then the agent's overhead over the raw QEMU driver, measured
 * by bench/agent-lifecycle.ts in the same run (called, not duplicated).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firecrackerGuestProblem } from '../src/agent/load-vmm.ts';
import { GuestLinks } from '../src/agent/runtime/guest-links.ts';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { median, timed, type Samples } from './support/stats.ts';
import type { DevImage } from '../src/drivers/dev-image/build-dev-image.ts';
import { FirecrackerVmm } from '../src/drivers/firecracker/firecracker-vmm.ts';
import { versionFromBinary } from '../src/drivers/firecracker/firecracker-version.ts';
import { silentLogger } from '../src/ports/logger.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { createQemuVmm } from '../src/drivers/qemu/create-qemu-vmm.ts';
import type { ProcessRunner } from '../src/ports/process-runner.ts';
import type { VmHandle, Vmm, VmSpec } from '../src/ports/vmm.ts';

const runs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 3);
const AGENT_BENCH = fileURLToPath(new URL('./agent-lifecycle.ts', import.meta.url));

interface Candidate {
  vmm: Vmm;
  /** e.g. "qemu (tcg: /dev/kvm is PVM ...)". */
  label: string;
  /** Why the guest cannot reach its agent here; undefined when it can. */
  guestProblem: string | undefined;
  memMib: number;
}

async function qemuCandidate(runner: ProcessRunner): Promise<Candidate | string> {
  const version = await runner.run('qemu-system-x86_64', ['--version'], { check: false });
  if (version.exitCode !== 0) return 'qemu-system-x86_64 does not run';
  const { vmm, verdict } = await createQemuVmm({ runner });
  return {
    vmm,
    label: `qemu (${verdict.accel}: ${verdict.reason})`,
    guestProblem: undefined,
    memMib: 256,
  };
}

async function firecrackerCandidate(runner: ProcessRunner): Promise<Candidate | string> {
  const bin = process.env['MVM_FIRECRACKER_BIN'] ?? '/opt/mvm-test/firecracker/firecracker';
  const version = await versionFromBinary(runner, bin).catch(() => undefined);
  if (!version) return `${bin} does not run (set MVM_FIRECRACKER_BIN)`;
  const guestProblem = await firecrackerGuestProblem();
  const vmm = new FirecrackerVmm({
    firecrackerBin: bin,
    runner,
    clock: systemClock,
    // A guest that makes no progress ignores Ctrl-Alt-Del; stop timings would measure the wait.
    timeouts: { gracefulStopMs: guestProblem ? 300 : 3_000 },
  });
  return { vmm, label: `firecracker ${version.raw}`, guestProblem, memMib: 128 };
}

function specFor(candidate: Candidate, image: DevImage, workDir: string): VmSpec {
  return {
    key: `mvm-bench-${candidate.vmm.name}`,
    workDir,
    vcpus: 1,
    memMib: candidate.memMib,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=bench`,
    drives: imageDrives(image),
    nets: [],
  };
}

/** One lifecycle; guest-level waits only where the guest boots, and the labels say which. */
async function oneRun(c: Candidate, spec: VmSpec, links: GuestLinks, s: Samples): Promise<void> {
  const vmm = c.vmm;
  const ready = async (vm: VmHandle, ms: number): Promise<void> => {
    if (!c.guestProblem) await links.for(vm).waitReady(ms);
  };
  const to = c.guestProblem ? 'VMM running (guest cannot boot)' : 'guest ready';
  let vm = await timed(s, `cold start -> ${to}`, async () => {
    const started = await vmm.start(spec);
    await ready(started, 90_000);
    return started;
  });
  await timed(s, 'pause', () => vmm.pause(vm));
  await timed(s, 'resume', () => vmm.resume(vm));
  await vmm.pause(vm);
  const snaps = join(spec.workDir, '..', 'snaps');
  const full = await timed(s, 'snapshot (full, paused VM)', () =>
    vmm.snapshot(vm, join(snaps, 'full'), 'full'),
  );
  if ((await vmm.capabilities()).diffSnapshots) {
    await vmm.resume(vm);
    await vmm.pause(vm);
    await timed(s, 'snapshot (diff)', () => vmm.snapshot(vm, join(snaps, 'diff'), 'diff'));
  }
  await timed(s, 'stop', () => vmm.stop(vm));
  links.drop(vm.key);
  vm = await timed(s, 'restore (-> paused)', () => vmm.restore(spec, full));
  await timed(s, `wake: resume -> ${to}`, async () => {
    await vmm.resume(vm);
    await ready(vm, 20_000);
  });
  await vmm.stop(vm);
  links.drop(vm.key);
  await rm(snaps, { recursive: true, force: true });
}

async function measure(c: Candidate, image: DevImage): Promise<Samples> {
  const samples: Samples = new Map();
  const root = await mkdtemp(join(tmpdir(), 'mvm-bvl-'));
  const links = new GuestLinks((await c.vmm.capabilities()).guestChannel, silentLogger);
  try {
    const spec = specFor(c, image, join(root, 'vm'));
    await mkdir(spec.workDir, { recursive: true });
    for (let i = 0; i < runs; i += 1) await oneRun(c, spec, links, samples);
  } finally {
    links.closeAll();
    await rm(root, { recursive: true, force: true });
  }
  return samples;
}

function report(c: Candidate, samples: Samples): void {
  console.log(`\n== ${c.label}: raw Vmm driver, median of ${runs}`);
  if (c.guestProblem) console.log(`   (!) guest-level timings not possible: ${c.guestProblem}`);
  for (const [name, values] of samples) {
    const shown = values.map((v) => v.toFixed(1)).join(' ');
    console.log(`   ${name.padEnd(50)} ${median(values).toFixed(1).padStart(9)} ms   [${shown}]`);
  }
}

/** The agent's overhead comes from bench/agent-lifecycle.ts, run as it is, in this run. */
async function agentOverhead(runner: ProcessRunner): Promise<void> {
  console.log(`\n== agent overhead over the raw QEMU driver (bench/agent-lifecycle.ts ${runs})`);
  const result = await runner.run(
    process.execPath,
    ['--import', 'tsx', AGENT_BENCH, String(runs)],
    {
      check: false,
      timeoutMs: 30 * 60_000,
    },
  );
  process.stdout.write(result.stdout.replace(/^/gm, '   '));
  if (result.exitCode !== 0)
    console.log(`   agent bench failed (${result.exitCode}): ${result.stderr}`);
}

async function main(): Promise<void> {
  const runner = new NodeProcessRunner();
  const image = await buildDevImage({ runner });
  console.log(`dev image ${image.revision.slice(0, 12)}; ${runs} runs per driver`);
  let qemuMeasured = false;
  for (const load of [qemuCandidate, firecrackerCandidate]) {
    const candidate = await load(runner);
    if (typeof candidate === 'string') {
      console.log(`\n== ${load.name.replace('Candidate', '')}: not available: ${candidate}`);
      continue;
    }
    report(candidate, await measure(candidate, image));
    qemuMeasured ||= candidate.vmm.name === 'qemu';
  }
  if (qemuMeasured) await agentOverhead(runner);
  else console.log('\nagent overhead: not measured (needs QEMU, whose guest boots on any host)');
}

await main();
