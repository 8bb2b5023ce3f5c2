/**
 * What confinement costs (`npx tsx bench/confinement.ts [N]`, default 5 runs): two agents in
 * one process, same host, same image, same cgroups and limits, one with every VMM confined
 * (the default: -sandbox, -runas the instance's uid, -chroot, setpriv) and one with
 * MVM_CONFINE=off. Both VMs run at once and every step (cold start -> guest ready, pause,
 * resume, sleep, wake) is taken on both sides back to back, the side going first alternating,
 * so both meet the same host. Pause and resume take a few milliseconds: 10 of each per run.
 * Medians, and the median of paired ratios; goal: confined within 5% of unconfined.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent, type AgentHandle } from '../src/agent/start-agent.ts';
import type { LocalAction } from '../src/contract/agent-api.ts';
import { median, timed, type Samples } from './support/stats.ts';

const runs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 5);
const ops = ['cold start -> ready', 'pause', 'resume', 'sleep', 'wake'] as const;
type Op = (typeof ops)[number];
type Side = 'confined' | 'unconfined';
const samples: Record<Side, Samples> = { confined: new Map(), unconfined: new Map() };
const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const GOAL = 1.05;

async function agentFor(side: Side, dataDir: string): Promise<AgentHandle> {
  const env = { ...process.env, MVM_CONFINE: side === 'confined' ? 'on' : 'off' };
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
    await (op ? timed(samples[side], op, work) : work());
  }
}

/** One run: both VMs up at once, so every step meets the same host on both sides. */
async function run(agents: Record<Side, AgentHandle>, first: Side): Promise<void> {
  const order: Side[] =
    first === 'confined' ? ['confined', 'unconfined'] : ['unconfined', 'confined'];
  const flipped = [...order].reverse();
  await both(agents, order, 'cold start -> ready', 'start');
  for (let i = 0; i < 10; i += 1) {
    await both(agents, i % 2 ? flipped : order, 'pause', 'warm');
    await both(agents, i % 2 ? flipped : order, 'resume', 'start');
  }
  await both(agents, order, 'sleep', 'sleep');
  await both(agents, flipped, 'wake', 'wake');
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
  const caps = await agents.confined.deps.vmm.capabilities();
  console.log(`qemu, accel ${caps.accel}, confined: ${caps.confined}; ${runs} runs each`);
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
  report();
}

/**
 * Medians of each side, and the median of the paired ratios (each step's confined time over
 * the unconfined one taken right beside it), which cancels the host's drifting load.
 */
function report(): void {
  const head = `${'operation'.padEnd(22)}${'unconfined'.padStart(12)}${'confined'.padStart(10)}`;
  console.log(`${head}  paired ratio (ms, medians)`);
  for (const op of ops) {
    const off = samples.unconfined.get(op) ?? [];
    const on = samples.confined.get(op) ?? [];
    const ratio = median(on.map((value, i) => value / (off[i] ?? Number.NaN)));
    const verdict = ratio <= GOAL ? 'ok' : 'over the 5% goal';
    const cells = `${median(off).toFixed(1).padStart(12)}${median(on).toFixed(1).padStart(10)}`;
    console.log(`${op.padEnd(22)}${cells}  ${ratio.toFixed(3)} (${verdict})`);
  }
}

await main();
