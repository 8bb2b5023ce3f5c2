/**
 * The agent's wake and warm resume against the raw QEMU driver, paired and interleaved
 * (`npx tsx bench/wake-overhead.ts [pairs]`, default 9). Two identical VMs (same shape, image,
 * drives and cgroup as the agent builds) boot once; then each pair sleeps both and wakes
 * both back to back, the order alternating, so host load (other processes on a shared host)
 * hits both sides of a pair alike. Printed: each side's median, the median of the per-pair
 * differences with its spread (p25..p75, min..max), and where the agent's wake spends its time
 * (the `phasesMs` of its 'instance running (woken)' and 'qemu restored (paused)' log lines).
 * Goal (issue 16): wake within 10 ms of raw, warm resume within 2 ms.
 *
 * "raw" wake: restore + resume + guest ready + guest told it woke (the drives did not change).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent, type AgentHandle } from '../src/agent/start-agent.ts';
import { materialize } from '../src/agent/runtime/vm-spec.ts';
import type { DriveDigests } from '../src/contract/guest-protocol.ts';
import { PhaseTimer } from '../src/drivers/clock/phase-timer.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { createQemuVmm } from '../src/drivers/qemu/create-qemu-vmm.ts';
import type { VmHandle, Vmm, VmSpec } from '../src/ports/vmm.ts';
import { benchWorkerSpec, phasesLogger, type Phases } from './support/bench-vm.ts';
import { median, percentile } from './support/stats.ts';

const pairs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 9);

/** The `phasesMs` of the last restore and wake log lines, per VM key. */
const logged = {
  restore: new Map<string, Phases>(),
  wake: new Map<string, Phases>(),
  parts: new Map<string, Phases>(),
};
const logger = phasesLogger((msg, phasesMs, { key, partsMs }) => {
  if (typeof key !== 'string') return;
  if (msg === 'qemu restored (paused)') logged.restore.set(key, phasesMs);
  if (msg !== 'instance running (woken)') return;
  logged.wake.set(key, phasesMs);
  logged.parts.set(key, (partsMs ?? {}) as Phases);
});

interface Pair {
  raw: number;
  agent: number;
}
const results = { wake: [] as Pair[], resume: [] as Pair[] };
/** Per phase, the samples: the agent's wake, its restore, the raw wake (with its restore). */
const phases = { agent: new Map<string, number[]>(), raw: new Map<string, number[]>() };
/** Per agent wake, the sum of the phases only the agent has (records, drives, cgroup, ...). */
const agentOnly: number[] = [];
/** Wakes that took over 2 s, with where the time went: printed at the end. */
const SLOW_MS = 2_000;
const slow: string[] = [];
const noteSlow = (side: string, total: number, ...parts: Phases[]): void => {
  if (total < SLOW_MS) return;
  const where = parts.flatMap((p) => Object.entries(p).map(([k, v]) => `${k} ${v.toFixed(0)}`));
  slow.push(`${side} wake ${total.toFixed(0)} ms: ${where.join(', ')}`);
};

function addPhases(into: Map<string, number[]>, from: Phases, prefix = ''): void {
  for (const [phase, ms] of Object.entries(from)) {
    into.set(prefix + phase, [...(into.get(prefix + phase) ?? []), ms]);
  }
}

async function ms(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

class RawSide {
  vm: VmHandle | undefined;
  private snapshot: Awaited<ReturnType<Vmm['snapshot']>> | undefined;
  constructor(
    private readonly agent: AgentHandle,
    private readonly vmm: Vmm,
    private readonly spec: VmSpec,
    private readonly digests: DriveDigests,
  ) {}

  private guest(vm: VmHandle) {
    return this.agent.deps.guests.for(vm);
  }

  async start(): Promise<void> {
    this.vm = await this.vmm.start(this.spec);
    await this.guest(this.vm).waitReady(120_000);
    await this.guest(this.vm).drives(this.digests);
  }

  async pauseResume(): Promise<number> {
    const vm = this.need();
    await this.vmm.pause(vm);
    return ms(() => this.vmm.resume(vm));
  }

  async sleep(): Promise<void> {
    const vm = this.need();
    await this.guest(vm).sleepPrep(20_000);
    await this.vmm.pause(vm);
    this.snapshot = await this.vmm.snapshot(vm, join(this.spec.workDir, 'raw-snap'), 'full');
    await this.vmm.stop(vm);
    this.agent.deps.guests.drop(vm.key);
    this.vm = undefined;
  }

  async wake(): Promise<number> {
    const snapshot = this.snapshot;
    if (!snapshot) throw new Error('raw side: wake before sleep');
    const timer = new PhaseTimer();
    const started = performance.now();
    const vm = await this.vmm.restore(this.spec, snapshot);
    timer.mark('restore');
    await this.vmm.resume(vm);
    timer.mark('resume');
    await this.guest(vm).waitReady(30_000);
    timer.mark('guestReady');
    await this.guest(vm).wake(Math.floor(Date.now() / 1000), this.digests);
    timer.mark('guestWake');
    const total = performance.now() - started;
    this.vm = vm;
    addPhases(phases.raw, timer.ms);
    addPhases(phases.raw, logged.restore.get(this.spec.key) ?? {}, 'restore.');
    noteSlow('raw', total, timer.ms, logged.restore.get(this.spec.key) ?? {});
    return total;
  }

  async stop(): Promise<void> {
    if (this.vm) await this.vmm.stop(this.vm);
    await rm(join(this.spec.workDir, 'raw-snap'), { recursive: true, force: true });
  }

  private need(): VmHandle {
    if (!this.vm) throw new Error('raw side: no VM running');
    return this.vm;
  }
}

async function agentWake(agent: AgentHandle, ref: Ref, key: string): Promise<number> {
  const total = await ms(() => agent.runtime.act(ref, 'wake'));
  const wake = logged.wake.get(key) ?? {};
  addPhases(phases.agent, wake);
  addPhases(phases.agent, logged.restore.get(key) ?? {}, 'restore.');
  // The parts of 'drives and network', side by side: the phase is the slowest of them.
  addPhases(phases.agent, logged.parts.get(key) ?? {}, 'drives and network | ');
  const inside = Object.values(wake).reduce((sum, v) => sum + v, 0);
  const act = total - inside;
  addPhases(phases.agent, { 'act (plan, lock, record load, trap)': act });
  // What the agent does that the raw side does not: everything but the driver and guest calls.
  const shared = ['restore', 'resume', 'guestReady', 'guestWake'];
  const own = Object.entries(wake).filter(([phase]) => !shared.includes(phase));
  agentOnly.push(own.reduce((sum, [, v]) => sum + v, act));
  noteSlow('agent', total, wake, logged.restore.get(key) ?? {});
  return total;
}

type Ref = { tenantId: string; poolId: string; instanceId: string };
const spec = benchWorkerSpec;

/** Runs the two sides of one pair in the given order. */
async function paired(
  rawFirst: boolean,
  raw: () => Promise<number>,
  viaAgent: () => Promise<number>,
): Promise<Pair> {
  if (rawFirst) {
    const r = await raw();
    return { raw: r, agent: await viaAgent() };
  }
  const a = await viaAgent();
  return { raw: await raw(), agent: a };
}

async function main(): Promise<void> {
  const runner = new NodeProcessRunner();
  const { vmm, verdict } = await createQemuVmm({ runner, logger });
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-bench-wake-'));
  const secretsDir = await benchSecretsDir();
  const config = loadAgentConfig({
    flags: { dataDir },
    env: secretsDir ? { ...process.env, MVM_SECRETS_DIR: secretsDir } : process.env,
  });
  console.log(
    `secrets drives in ${config.secretsDir} (${(await isTmpfs(config.secretsDir)) ? 'tmpfs' : 'not tmpfs: every wake pays mkfs.ext4 fsyncs on disk'})`,
  );
  const agent = await startAgent(config, { mode: 'runtime', vmm, logger, network: null });
  console.log(
    `driver qemu, accel ${verdict.accel} (${verdict.reason}); ${pairs} interleaved pairs`,
  );
  const rawRef = { tenantId: 'bench', poolId: 'p', instanceId: 'raw' };
  const ref = { ...rawRef, instanceId: 'agent' };
  let raw: RawSide | undefined;
  try {
    const rawRecord = await agent.runtime.put(rawRef, {
      spec: spec('10.240.98.2', '52:54:00:00:98:02'),
    });
    const agentRecord = await agent.runtime.put(ref, {
      spec: spec('10.240.98.3', '52:54:00:00:98:03'),
    });
    const { spec: rawSpec, digests } = await materialize(agent.deps, rawRecord);
    raw = new RawSide(agent, vmm, rawSpec, digests);
    const side = raw;
    await side.start();
    await agent.runtime.act(ref, 'start');
    for (let i = 0; i < pairs; i += 1) {
      const rawFirst = i % 2 === 0;
      results.resume.push(
        await paired(
          rawFirst,
          () => side.pauseResume(),
          async () => {
            await agent.runtime.act(ref, 'warm');
            return ms(() => agent.runtime.act(ref, 'start'));
          },
        ),
      );
      await side.sleep();
      await agent.runtime.act(ref, 'sleep');
      results.wake.push(
        await paired(
          rawFirst,
          () => side.wake(),
          () => agentWake(agent, ref, agentRecord.key),
        ),
      );
      console.log(
        `pair ${i + 1}: wake raw ${results.wake[i]?.raw.toFixed(1)} agent ${results.wake[i]?.agent.toFixed(1)} ms`,
      );
    }
  } finally {
    await raw?.stop().catch(() => undefined);
    for (const r of [rawRef, ref]) await agent.runtime.act(r, 'destroy').catch(() => undefined);
    await agent.close();
    await rm(dataDir, { recursive: true, force: true });
    if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
  }
  report();
}

/**
 * Where the agent builds secrets drives: as on a host, a tmpfs (docs/secrets.md: /run is one
 * there, not in every container), /dev/shm when MVM_SECRETS_DIR does not say otherwise.
 */
async function benchSecretsDir(): Promise<string | undefined> {
  if (process.env['MVM_SECRETS_DIR'] !== undefined || !(await isTmpfs('/dev/shm')))
    return undefined;
  return mkdtemp('/dev/shm/mvm-bench-secrets-');
}

/** The filesystem type of the longest mount point above `path`, from /proc/mounts. */
async function isTmpfs(path: string): Promise<boolean> {
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' '));
  const above = mounts
    .filter(
      ([, point]) =>
        point !== undefined &&
        (path === point || path.startsWith(`${point === '/' ? '' : point}/`)),
    )
    .sort((a, b) => (b[1]?.length ?? 0) - (a[1]?.length ?? 0));
  return above[0]?.[2] === 'tmpfs';
}

const f = (n: number): string => n.toFixed(1);

function report(): void {
  console.log(
    `\n${'operation'.padEnd(14)}${'raw ms'.padStart(9)}${'agent ms'.padStart(10)}${'diff ms'.padStart(9)}  diff p25..p75  diff min..max  goal`,
  );
  const goals = { wake: 10, resume: 2 };
  for (const op of ['wake', 'resume'] as const) {
    const list = results[op];
    const diffs = list.map((p) => p.agent - p.raw);
    const d = median(diffs);
    const verdict = d <= goals[op] ? 'ok' : 'over';
    console.log(
      `${op.padEnd(14)}${f(median(list.map((p) => p.raw))).padStart(9)}${f(median(list.map((p) => p.agent))).padStart(10)}${f(d).padStart(9)}  ${`${f(percentile(diffs, 25))}..${f(percentile(diffs, 75))}`.padStart(13)}  ${`${f(Math.min(...diffs))}..${f(Math.max(...diffs))}`.padStart(13)}  <= ${goals[op]} ms: ${verdict}`,
    );
  }
  console.log(
    `agent-only work per wake (its phases the raw side has not): median ${f(median(agentOnly))} ms, p25..p75 ${f(percentile(agentOnly, 25))}..${f(percentile(agentOnly, 75))}`,
  );
  console.log(
    "\nwake phases, median ms (restore.* are inside restore; the 'drives and network |' parts run side by side inside it)",
  );
  const names = [...new Set([...phases.agent.keys(), ...phases.raw.keys()])];
  console.log(`${'phase'.padEnd(44)}${'raw'.padStart(8)}${'agent'.padStart(8)}`);
  for (const name of names) {
    const cell = (m: Map<string, number[]>) => {
      const v = m.get(name);
      return (v ? f(median(v)) : '-').padStart(8);
    };
    console.log(`${name.padEnd(44)}${cell(phases.raw)}${cell(phases.agent)}`);
  }
  console.log(`\nwakes over ${SLOW_MS} ms: ${slow.length === 0 ? 'none' : ''}`);
  for (const line of slow) console.log(`  ${line}`);
}

await main();
