/**
 * The Firecracker driver against Firecracker driven bare through its API, at the VMM level, in
 * one run (`npx tsx bench/firecracker-overhead.ts [pairs] [--bare-logging] [--bare-detached]`,
 * default 15): restore of one full snapshot to paused, resume, and cold start to VMM running
 * (InstanceStart answered). Each pair runs both sides back to back, the order alternating, so
 * host load hits both alike. "bare": spawn `firecracker --api-sock`, poll the socket every
 * 1 ms, send the same request bodies the driver sends (built by the same request builders),
 * nothing else. Printed: each side's median, the median per-pair difference with its spread,
 * the driver restore's phases (the `phasesMs` of its 'firecracker restored' log line) and
 * bare's (spawn and socket, logger, load). Unjailed on both sides.
 * Needs /opt/mvm-test/firecracker/firecracker (or MVM_FIRECRACKER_BIN); says so and exits
 * when it is absent. The guest itself never runs on a PVM host: VMM-level timings only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { socketAccepts } from '../src/drivers/firecracker/api-client.ts';
import { bootRequests, vmmFiles } from '../src/drivers/firecracker/boot-config.ts';
import { FirecrackerVmm } from '../src/drivers/firecracker/firecracker-vmm.ts';
import { versionFromBinary } from '../src/drivers/firecracker/firecracker-version.ts';
import {
  apiShapesFor,
  loggerRequest,
  metricsRequest,
  snapshotLoadRequest,
  vmStateRequest,
  type ApiRequest,
  type ApiShapes,
} from '../src/drivers/firecracker/requests.ts';
import { MEMORY_FILE, VMSTATE_FILE } from '../src/drivers/firecracker/snapshot-files.ts';
import { vmLayout } from '../src/drivers/firecracker/vm-layout.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import type { SnapshotRef, VmSpec } from '../src/ports/vmm.ts';
import { phasesLogger } from './support/bench-vm.ts';
import { median, percentile } from './support/stats.ts';

const pairs = Number(
  process.argv.slice(2).find((a) => !a.startsWith('--')) ?? process.env['MVM_BENCH_RUNS'] ?? 15,
);
const bin = process.env['MVM_FIRECRACKER_BIN'] ?? '/opt/mvm-test/firecracker/firecracker';
const phases = {
  restore: new Map<string, number[]>(),
  start: new Map<string, number[]>(),
  bareRestore: new Map<string, number[]>(),
};
const logger = phasesLogger((msg, phasesMs) => {
  const into = { 'firecracker restored': phases.restore, 'firecracker started': phases.start }[msg];
  if (!into) return;
  for (const [phase, ms] of Object.entries(phasesMs)) {
    into.set(phase, [...(into.get(phase) ?? []), ms]);
  }
});

const ops = ['restore -> paused', 'resume', 'restore + resume', 'cold start -> VMM running'];
type Op = (typeof ops)[number];
const samples = { driver: new Map<Op, number[]>(), bare: new Map<Op, number[]>() };
const add = (side: 'driver' | 'bare', op: Op, ms: number): void => {
  samples[side].set(op, [...(samples[side].get(op) ?? []), ms]);
};

/** One HTTP request on Firecracker's API socket; rejects on a non-2xx answer. */
function call(socketPath: string, req: { method: string; path: string; body?: object }) {
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  return new Promise<void>((resolve, reject) => {
    const r = request(
      {
        socketPath,
        agent: false,
        method: req.method,
        path: req.path,
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`${req.method} ${req.path}: ${status} ${Buffer.concat(chunks)}`));
        });
      },
    );
    r.on('error', reject);
    r.end(payload);
  });
}

/** Firecracker, bare: spawned, its socket polled every millisecond. */
class Bare {
  private child: ChildProcess | undefined;
  readonly socket: string;
  constructor(private readonly dir: string) {
    this.socket = join(dir, 'api.sock');
  }

  async spawn(): Promise<void> {
    await rm(this.socket, { force: true });
    // --bare-detached: in a session of its own, as the driver spawns it (with autogroup
    // scheduling a new session is a new scheduling group on a loaded host).
    this.child = spawn(bin, ['--api-sock', this.socket, '--id', 'bare'], {
      stdio: 'ignore',
      detached: process.argv.includes('--bare-detached'),
    });
    const deadline = performance.now() + 10_000;
    while (!(await socketAccepts(this.socket))) {
      if (performance.now() > deadline) throw new Error('bare firecracker: no API socket');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await rm(this.socket, { force: true });
  }
}

interface Setup {
  vmm: FirecrackerVmm;
  spec: VmSpec;
  snapshot: SnapshotRef;
  shapes: ApiShapes;
  bare: Bare;
  /** The vsock socket the snapshot's VMM binds, removed after each bare run. */
  savedVsock: string;
  bareBoot: ApiRequest[];
  /** With --bare-logging, bare also configures the logger and metrics, as the driver does. */
  bareLogging: ApiRequest[];
}

async function driverRestore(s: Setup): Promise<void> {
  const started = performance.now();
  const vm = await s.vmm.restore(s.spec, s.snapshot);
  const restored = performance.now();
  await s.vmm.resume(vm);
  const resumed = performance.now();
  add('driver', 'restore -> paused', restored - started);
  add('driver', 'resume', resumed - restored);
  add('driver', 'restore + resume', resumed - started);
  await s.vmm.stop(vm);
}

async function bareRestore(s: Setup): Promise<void> {
  const load = snapshotLoadRequest(
    {
      snapshotPath: join(s.snapshot.dir, VMSTATE_FILE),
      memPath: join(s.snapshot.dir, MEMORY_FILE),
      trackDirtyPages: true,
    },
    s.shapes,
  );
  const started = performance.now();
  await s.bare.spawn();
  const spawned = performance.now();
  for (const req of s.bareLogging) await call(s.bare.socket, req);
  const logged = performance.now();
  await call(s.bare.socket, load);
  const restored = performance.now();
  for (const [phase, ms] of [
    ['spawn and socket', spawned - started],
    ['logger', logged - spawned],
    ['load', restored - logged],
  ] as const) {
    phases.bareRestore.set(phase, [...(phases.bareRestore.get(phase) ?? []), ms]);
  }
  await call(s.bare.socket, vmStateRequest('Resumed'));
  const resumed = performance.now();
  add('bare', 'restore -> paused', restored - started);
  add('bare', 'resume', resumed - restored);
  add('bare', 'restore + resume', resumed - started);
  await s.bare.kill();
  await rm(s.savedVsock, { force: true });
}

async function main(): Promise<void> {
  if (
    !(await access(bin).then(
      () => true,
      () => false,
    ))
  ) {
    console.log(`SKIPPED: no Firecracker binary at ${bin} (set MVM_FIRECRACKER_BIN)`);
    return;
  }
  const runner = new NodeProcessRunner();
  const version = await versionFromBinary(runner, bin);
  const image = await buildDevImage({ runner });
  const root = await mkdtemp(join(tmpdir(), 'mvm-bench-fco-'));
  const vmm = new FirecrackerVmm({
    firecrackerBin: bin,
    runner,
    clock: systemClock,
    logger,
    // The guest makes no progress on this host: it ignores Ctrl-Alt-Del; do not wait for it.
    timeouts: { gracefulStopMs: 50 },
  });
  const spec: VmSpec = {
    key: 'mvm-bench-fco',
    workDir: join(root, 'vm'),
    vcpus: 1,
    memMib: 128,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=bench`,
    drives: imageDrives(image),
    nets: [],
  };
  await mkdir(join(root, 'bare'), { recursive: true });
  for (const name of ['firecracker.log', 'firecracker.metrics']) {
    await writeFile(join(root, 'bare', name), '', { flag: 'a' });
  }
  console.log(`firecracker ${version.raw}, unjailed, ${pairs} interleaved pairs`);
  try {
    const first = await vmm.start(spec);
    await vmm.pause(first);
    const snapshot = await vmm.snapshot(first, join(root, 'snap'), 'full');
    await vmm.stop(first);
    const shapes = apiShapesFor(version);
    const bareLayout = vmLayout(join(root, 'bare'), undefined);
    const setup: Setup = {
      vmm,
      spec,
      snapshot,
      shapes,
      bare: new Bare(join(root, 'bare')),
      savedVsock: vmLayout(spec.workDir, undefined).vsock.host,
      bareLogging: process.argv.includes('--bare-logging')
        ? [
            loggerRequest(join(root, 'bare', 'firecracker.log'), 'Info'),
            metricsRequest(join(root, 'bare', 'firecracker.metrics')),
          ]
        : [],
      bareBoot: bootRequests({
        spec,
        files: vmmFiles(bareLayout, spec),
        vsockUds: bareLayout.vsock.vmm,
        guestCid: 3,
        trackDirtyPages: true,
        shapes,
      }),
    };
    for (let i = 0; i < pairs; i += 1) {
      const sides = [() => driverRestore(setup), () => bareRestore(setup)];
      for (const run of i % 2 === 0 ? sides : sides.reverse()) await run();
      const cold = [() => driverColdStart(setup), () => bareCold(setup)];
      for (const run of i % 2 === 0 ? cold : cold.reverse()) await run();
    }
  } finally {
    await setupCleanup(root);
  }
  report();
}

async function driverColdStart(s: Setup): Promise<void> {
  const started = performance.now();
  const vm = await s.vmm.start(s.spec);
  add('driver', 'cold start -> VMM running', performance.now() - started);
  await s.vmm.stop(vm);
}

async function bareCold(s: Setup): Promise<void> {
  const started = performance.now();
  await s.bare.spawn();
  for (const req of [...s.bareLogging, ...s.bareBoot]) await call(s.bare.socket, req);
  add('bare', 'cold start -> VMM running', performance.now() - started);
  await s.bare.kill();
  await rm(join(s.bare.socket, '..', 'vsock.sock'), { force: true });
}

async function setupCleanup(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

const f = (n: number): string => n.toFixed(2);

function report(): void {
  console.log(
    `\n${'operation'.padEnd(28)}${'bare ms'.padStart(9)}${'driver ms'.padStart(11)}${'diff ms'.padStart(9)}  diff p25..p75`,
  );
  for (const op of ops) {
    const bare = samples.bare.get(op) ?? [];
    const driver = samples.driver.get(op) ?? [];
    const diffs = driver.map((d, i) => d - (bare[i] ?? NaN));
    console.log(
      `${op.padEnd(28)}${f(median(bare)).padStart(9)}${f(median(driver)).padStart(11)}${f(median(diffs)).padStart(9)}  ${f(percentile(diffs, 25))}..${f(percentile(diffs, 75))}`,
    );
  }
  for (const [what, map] of Object.entries(phases)) {
    console.log(
      `\n${what === 'bareRestore' ? 'bare restore' : `driver ${what}`} phases, median ms`,
    );
    for (const [phase, values] of map) {
      console.log(`  ${phase.padEnd(14)}${f(median(values)).padStart(8)}`);
    }
  }
}

await main();
