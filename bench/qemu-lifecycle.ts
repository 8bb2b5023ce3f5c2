/**
 * QEMU lifecycle timings on this host with the dev image: cold start to guest-ready, pause,
 * resume, sleep (snapshot + stop), wake (restore + resume + agent answers). Medians of N
 * runs (`npx tsx bench/qemu-lifecycle.ts [N]`, default 3), through the Vmm driver and, for
 * pause/resume, as raw QMP commands on one held connection for comparison.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDevImage, imageDrives } from '../src/drivers/dev-image/build-dev-image.ts';
import { GuestClient } from '../src/drivers/guest-channel/guest-client.ts';
import { unixSocketTransport } from '../src/drivers/guest-channel/guest-transport.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { createQemuVmm } from '../src/drivers/qemu/create-qemu-vmm.ts';
import { median, timed as timeInto, type Samples } from './support/stats.ts';
import { QmpClient } from '../src/drivers/qemu/qmp-client.ts';
import type { VmHandle, VmSpec } from '../src/ports/vmm.ts';

const runs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 3);
const samples: Samples = new Map();

/** Adds the duration of `work` to the samples of `name`. */
function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
  return timeInto(samples, name, work);
}

async function rawQmp(vm: VmHandle): Promise<void> {
  const qmp = await timed('raw QMP connect+handshake', () => QmpClient.connect(vm.controlSocket));
  await timed('raw QMP stop', () => qmp.execute('stop'));
  await timed('raw QMP cont', () => qmp.execute('cont'));
  qmp.close();
}

async function oneRun(
  spec: VmSpec,
  vmm: Awaited<ReturnType<typeof createQemuVmm>>['vmm'],
): Promise<void> {
  let vm = await timed('cold start -> guest ready', async () => {
    const started = await vmm.start(spec);
    const client = new GuestClient(unixSocketTransport(started.guestSocket));
    await client.waitReady(60_000);
    client.close();
    return started;
  });
  await timed('pause (driver)', () => vmm.pause(vm));
  await timed('resume (driver)', () => vmm.resume(vm));
  await rawQmp(vm);
  await timed('sleep: pause+snapshot+stop', async () => {
    await vmm.pause(vm);
    const snap = await timed('  snapshot only', () =>
      vmm.snapshot(vm, join(spec.workDir, 'snap'), 'full'),
    );
    await vmm.stop(vm);
    const list = samples.get('  snapshot MB') ?? [];
    list.push(snap.sizeBytes / 1e6);
    samples.set('  snapshot MB', list);
  });
  vm = await timed('wake: restore+resume+agent answers', async () => {
    const restored = await timed('  restore only', () =>
      vmm.restore(spec, { dir: join(spec.workDir, 'snap'), kind: 'full', sizeBytes: 0 }),
    );
    await vmm.resume(restored);
    const client = new GuestClient(unixSocketTransport(restored.guestSocket));
    await client.ping(10_000);
    client.close();
    return restored;
  });
  await timed('stop', () => vmm.stop(vm));
}

async function main(): Promise<void> {
  const runner = new NodeProcessRunner();
  const image = await buildDevImage({ runner });
  const { vmm, verdict } = await createQemuVmm({ runner });
  const workDir = await mkdtemp(join(tmpdir(), 'mvm-bench-'));
  const spec: VmSpec = {
    key: 'mvm-bench',
    workDir,
    vcpus: 1,
    memMib: 256,
    kernelPath: image.vmlinux,
    initrdPath: image.initrd,
    cmdline: `${image.cmdlineBase} mvm.hostname=bench`,
    drives: imageDrives(image),
    nets: [],
  };
  console.log(
    `accel ${verdict.accel} (${verdict.reason}); image ${image.revision.slice(0, 12)}; ${runs} runs`,
  );
  try {
    for (let i = 0; i < runs; i += 1) await oneRun(spec, vmm);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  for (const [name, values] of samples) {
    const unit = name.includes('MB') ? 'MB' : 'ms';
    const shown = values.map((v) => v.toFixed(1)).join(' ');
    console.log(
      `${name.padEnd(40)} median ${median(values).toFixed(1).padStart(8)} ${unit}   [${shown}]`,
    );
  }
}

await main();
