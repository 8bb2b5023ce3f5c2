/**
 * The agent's overhead over the raw hypervisor driver, measured in the same run on the same
 * machine shape (same drives, tap and cgroup): cold start -> guest ready, pause, resume,
 * sleep and wake, medians of N runs (`npx tsx bench/agent-lifecycle.ts [N]`, default 3).
 * "raw" is the minimal sequence of driver + guest calls for the same result; "agent" is the
 * instance runtime (state machine, SQLite compare-and-set writes, drives rebuilt, cgroup).
 * Goal: the agent adds under 20%. For the wake and the warm resume against their own goals
 * (10 ms and 2 ms), paired and with the wake's phases: bench/wake-overhead.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchWorkerSpec } from './support/bench-vm.ts';
import { median, timed as timeInto, type Samples } from './support/stats.ts';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent, type AgentHandle } from '../src/agent/start-agent.ts';
import { materialize } from '../src/agent/runtime/vm-spec.ts';
import type { LocalAction } from '../src/contract/agent-api.ts';
import type { DriveDigests } from '../src/contract/guest-protocol.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { createQemuVmm } from '../src/drivers/qemu/create-qemu-vmm.ts';
import type { Vmm, VmSpec } from '../src/ports/vmm.ts';

const runs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 3);
const ops = ['cold start -> ready', 'pause', 'resume', 'sleep', 'wake'] as const;
type Op = (typeof ops)[number];
const samples: Record<'raw' | 'agent', Samples> = { raw: new Map(), agent: new Map() };

/** Adds the duration of `work` to the raw or the agent side's samples of `op`. */
function timed<T>(side: 'raw' | 'agent', op: Op, work: () => Promise<T>): Promise<T> {
  return timeInto(samples[side], op, work);
}

const logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const spec = benchWorkerSpec;

type Agent = AgentHandle;

/** The driver alone, with the guest-agent calls the same result needs. */
async function rawRun(
  agent: Agent,
  vmm: Vmm,
  vmSpec: VmSpec,
  digests: DriveDigests,
): Promise<void> {
  const guest = (vm: Parameters<Vmm['pause']>[0]) => agent.deps.guests.for(vm);
  let vm = await timed('raw', 'cold start -> ready', async () => {
    const started = await vmm.start(vmSpec);
    await guest(started).waitReady(90_000);
    await guest(started).drives(digests);
    return started;
  });
  await timed('raw', 'pause', () => vmm.pause(vm));
  await timed('raw', 'resume', () => vmm.resume(vm));
  const snapDir = join(vmSpec.workDir, 'raw-snap');
  const snap = await timed('raw', 'sleep', async () => {
    await guest(vm).sleepPrep(10_000);
    await vmm.pause(vm);
    const ref = await vmm.snapshot(vm, snapDir, 'full');
    await vmm.stop(vm);
    return ref;
  });
  vm = await timed('raw', 'wake', async () => {
    const restored = await vmm.restore(vmSpec, snap);
    await vmm.resume(restored);
    await guest(restored).waitReady(20_000);
    // The drives did not change: the guest keeps its mounts, as it does under the agent.
    await guest(restored).wake(Math.floor(Date.now() / 1000), digests);
    return restored;
  });
  await vmm.stop(vm);
  agent.deps.guests.drop(vm.key);
  await rm(snapDir, { recursive: true, force: true });
}

async function agentRun(agent: Agent): Promise<void> {
  const ref = { tenantId: 'bench', poolId: 'p', instanceId: 'agent' };
  const act = (op: Op, action: LocalAction) =>
    timed('agent', op, () => agent.runtime.act(ref, action));
  await act('cold start -> ready', 'start');
  await act('pause', 'warm');
  await act('resume', 'start');
  await act('sleep', 'sleep');
  await act('wake', 'wake');
  await agent.runtime.act(ref, 'stop');
}

async function main(): Promise<void> {
  const runner = new NodeProcessRunner();
  const { vmm, verdict } = await createQemuVmm({ runner });
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-bench-ag-'));
  // The agent as configured on this host (env, config file), on the same driver as the raw side.
  const config = loadAgentConfig({ flags: { dataDir }, env: process.env });
  const agent = await startAgent(config, { mode: 'runtime', vmm, logger, network: null });
  console.log(`driver qemu, accel ${verdict.accel} (${verdict.reason}); ${runs} runs each`);
  try {
    const rawRef = { tenantId: 'bench', poolId: 'p', instanceId: 'raw' };
    const rawRecord = await agent.runtime.put(rawRef, {
      spec: spec('10.240.98.2', '52:54:00:00:98:02'),
    });
    await agent.runtime.put(
      { ...rawRef, instanceId: 'agent' },
      { spec: spec('10.240.98.3', '52:54:00:00:98:03') },
    );
    // Same drives, tap and cgroup as the agent builds; built once, outside the timings.
    const { spec: rawSpec, digests } = await materialize(agent.deps, rawRecord);
    for (let i = 0; i < runs; i += 1) {
      await rawRun(agent, vmm, rawSpec, digests);
      await agentRun(agent);
    }
    for (const instanceId of ['raw', 'agent']) {
      await agent.runtime.act({ ...rawRef, instanceId }, 'destroy');
    }
  } finally {
    await agent.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  report();
}

function report(): void {
  console.log(
    `${'operation'.padEnd(22)}${'raw ms'.padStart(10)}${'agent ms'.padStart(10)}  agent/raw`,
  );
  for (const op of ops) {
    const raw = median(samples.raw.get(op) ?? []);
    const viaAgent = median(samples.agent.get(op) ?? []);
    const ratio = raw > 0 ? viaAgent / raw : Number.NaN;
    const verdict = ratio <= 1.2 ? 'ok' : 'over the 20% goal';
    console.log(
      `${op.padEnd(22)}${raw.toFixed(1).padStart(10)}${viaAgent.toFixed(1).padStart(10)}  ${ratio.toFixed(2)} (${verdict})`,
    );
  }
}

await main();
