/**
 * What confinement costs (`npx tsx bench/confinement.ts [runs] [cycles] [pauses] [--phases]
 * [--control]`, default 5 runs of 3 sleep/wake cycles and 10 pauses): two agents in one
 * process, same host, same image, same cgroups and limits, one with every VMM confined (the
 * default: -sandbox, -runas the instance's uid, -chroot, setpriv) and one with
 * MVM_CONFINE=off. Both VMs run at once and every step (cold start -> guest ready, pause,
 * resume, sleep, wake) is taken on both sides back to back, the side going first alternating,
 * so both meet the same host. Pause and resume take a few milliseconds: `pauses` of each per
 * run; sleep and wake `cycles` times per run. Medians, and the median of paired ratios with
 * their quartiles (how far one pair swings); goal: confined within 5% of unconfined.
 * `--phases` adds where sleep and wake spend their time on each side (every Vmm and
 * guest-agent call the runtime makes). `--control` runs the same bench with both sides
 * unconfined: its ratios are the bench's own noise on this host.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent, type AgentHandle } from '../src/agent/start-agent.ts';
import type { LocalAction } from '../src/contract/agent-api.ts';
import { timePhases, type PhaseTimer } from './support/phase-timing.ts';
import { median, percentile, timed, type Samples } from './support/stats.ts';

const cli = parseArgs({
  allowPositionals: true,
  options: { phases: { type: 'boolean' }, control: { type: 'boolean' } },
});
const runs = Number(cli.positionals[0] ?? process.env['MVM_BENCH_RUNS'] ?? 5);
const cycles = Number(cli.positionals[1] ?? 3);
const pauses = Number(cli.positionals[2] ?? 10);
const ops = ['cold start -> ready', 'pause', 'resume', 'sleep', 'wake'] as const;
type Op = (typeof ops)[number];
type Side = 'confined' | 'unconfined';
const samples: Record<Side, Samples> = { confined: new Map(), unconfined: new Map() };
const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const GOAL = 1.05;
const phases: Partial<Record<Side, PhaseTimer>> = {};

async function agentFor(side: Side, dataDir: string): Promise<AgentHandle> {
  const confine = side === 'confined' && !cli.values.control;
  const env = { ...process.env, MVM_CONFINE: confine ? 'on' : 'off' };
  const config = loadAgentConfig({ flags: { dataDir }, env });
  return startAgent(config, { mode: 'runtime', logger: quiet, network: null });
}

const refOf = (side: Side) => ({ tenantId: 'bench', poolId: 'p', instanceId: side });

/** Each step on both sides back to back, the side going first alternating. */
async function both(
  agents: Record<Side, AgentHandle>,
  order: readonly Side[],
  op: Op | undefined,
  action: LocalAction,
): Promise<void> {
  for (const side of order) {
    const work = () => agents[side].runtime.act(refOf(side), action);
    const timer = phases[side];
    if (timer) timer.step = op;
    await (op ? timed(samples[side], op, work) : work());
  }
}

/** One run: both VMs up at once, so every step meets the same host on both sides. */
async function run(agents: Record<Side, AgentHandle>, first: Side): Promise<void> {
  const order: Side[] =
    first === 'confined' ? ['confined', 'unconfined'] : ['unconfined', 'confined'];
  const flipped = [...order].reverse();
  await both(agents, order, 'cold start -> ready', 'start');
  for (let i = 0; i < pauses; i += 1) {
    await both(agents, i % 2 ? flipped : order, 'pause', 'warm');
    await both(agents, i % 2 ? flipped : order, 'resume', 'start');
  }
  for (let i = 0; i < cycles; i += 1) {
    await both(agents, i % 2 ? flipped : order, 'sleep', 'sleep');
    await both(agents, i % 2 ? order : flipped, 'wake', 'wake');
  }
  await both(agents, order, undefined, 'stop');
}

async function main(): Promise<void> {
  const dirs = await Promise.all(
    (['confined', 'unconfined'] as const).map((side) => mkdtemp(join(tmpdir(), `mvm-b-${side}-`))),
  );
  const agents = {
    confined: await agentFor('confined', dirs[0] ?? ''),
    unconfined: await agentFor('unconfined', dirs[1] ?? ''),
  };
  if (cli.values.phases) {
    phases.confined = timePhases(agents.confined);
    phases.unconfined = timePhases(agents.unconfined);
  }
  const caps = await agents.confined.deps.vmm.capabilities();
  const what = cli.values.control ? 'control: both sides unconfined' : `confined: ${caps.confined}`;
  console.log(
    `qemu, accel ${caps.accel}, ${what}; ${runs} runs of ${cycles} sleep/wake cycles; ${load()}`,
  );
  try {
    for (const [side, octet] of [
      ['confined', 60],
      ['unconfined', 61],
    ] as const) {
      await agents[side].runtime.put(refOf(side), {
        spec: {
          role: 'worker',
          vcpus: 1,
          memMib: 256,
          dataDiskMib: 16,
          ip: `10.240.96.${octet}`,
          gateway: '10.240.96.1',
          mac: `52:54:00:00:96:${octet}`,
        },
      });
    }
    for (let i = 0; i < runs; i += 1) await run(agents, i % 2 === 0 ? 'confined' : 'unconfined');
  } finally {
    for (const agent of Object.values(agents)) {
      await agent.runtime.destroyAll().catch(() => undefined);
      await agent.close();
    }
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
  console.log(`done; ${load()}`);
  report();
  if (cli.values.phases) reportPhases();
}

const load = (): string =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;

/**
 * Medians of each side, and the median of the paired ratios (each step's confined time over
 * the unconfined one taken right beside it), which cancels the host's drifting load.
 */
function report(): void {
  const [a, b] = columns();
  const head = `${'operation'.padEnd(22)}${'n'.padStart(4)}${a.padStart(12)}${b.padStart(10)}`;
  console.log(`${head}  paired ratio [quartiles] (ms, medians)`);
  for (const op of ops) {
    const off = samples.unconfined.get(op) ?? [];
    const on = samples.confined.get(op) ?? [];
    if (on.length === 0) continue;
    const ratios = on.map((value, i) => value / (off[i] ?? Number.NaN));
    const ratio = median(ratios);
    const spread = [25, 75].map((p) => percentile(ratios, p).toFixed(3)).join('-');
    const off5 = cli.values.control ? 'two like sides differ by more than 5%' : 'over the 5% goal';
    const verdict = ratio <= GOAL ? 'ok' : off5;
    const cells = `${String(on.length).padStart(4)}${ms(off).padStart(12)}${ms(on).padStart(10)}`;
    console.log(`${op.padEnd(22)}${cells}  ${ratio.toFixed(3)} [${spread}] (${verdict})`);
  }
}

/** In a control run both sides are unconfined: the columns are only its two sides. */
const columns = (): [string, string] =>
  cli.values.control ? ['side A', 'side B'] : ['unconfined', 'confined'];

const ms = (values: readonly number[]): string => median(values).toFixed(1);

/** Each call the sleep and wake steps made, median ms per side. */
function reportPhases(): void {
  const off = phases.unconfined?.samples ?? new Map<string, number[]>();
  const on = phases.confined?.samples ?? new Map<string, number[]>();
  const names = [...new Set([...off.keys(), ...on.keys()])].filter(
    (name) => name.startsWith('sleep:') || name.startsWith('wake:'),
  );
  const [a, b] = columns();
  console.log(`\n${'call'.padEnd(30)}${a.padStart(12)}${b.padStart(10)}`);
  for (const name of names.sort()) {
    console.log(
      `${name.padEnd(30)}${ms(off.get(name) ?? []).padStart(12)}${ms(on.get(name) ?? []).padStart(10)}`,
    );
  }
}

await main();
