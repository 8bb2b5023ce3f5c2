/**
 * Clone start against cold boot, in one run (`npx tsx bench/clone-start.ts [N]`, default 3):
 * two agents on the same driver and machine shape (1 vCPU, 256 MiB, the dev image), one
 * with clones off, one with `MVM_CLONES=on`. "cold boot" is `start` to a ready guest agent;
 * "clone" is `start` from the pool's base to a ready guest that has taken its identity. The
 * base is made once, by the clone agent's first (cold) start, and reported apart. Goal
 * (issue 16): a clone in at most 1/5 of a cold boot. Runs in a network namespace of its own
 * (root).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inOwnNetns } from './support/own-netns.ts';
import { median, timed, type Samples } from './support/stats.ts';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent, type AgentHandle } from '../src/agent/start-agent.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { createQemuVmm } from '../src/drivers/qemu/create-qemu-vmm.ts';
import type { Vmm } from '../src/ports/vmm.ts';

const runs = Number(process.argv[2] ?? process.env['MVM_BENCH_RUNS'] ?? 3);
const samples: Samples = new Map();
const logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const spec = (n: number) => ({
  role: 'worker' as const,
  vcpus: 1,
  memMib: 256,
  dataDiskMib: 16,
  ip: `10.240.97.${10 + n}`,
  gateway: '10.240.97.1',
  mac: `52:54:00:00:97:${(10 + n).toString(16).padStart(2, '0')}`,
});

/** The driver, with its restores timed: where a clone's start goes (restore vs the rest). */
function timingRestores(vmm: Vmm): Vmm {
  const restore: Vmm['restore'] = (spec, snapshot) =>
    timed(samples, 'clone: restore (paused)', () => vmm.restore(spec, snapshot));
  return new Proxy(vmm, {
    get: (target, name, receiver) =>
      name === 'restore' ? restore : (Reflect.get(target, name, receiver) as unknown),
  });
}

async function agentIn(dataDir: string, clones: boolean): Promise<AgentHandle> {
  const created = await createQemuVmm({ runner: new NodeProcessRunner() });
  const vmm = clones ? timingRestores(created.vmm) : created.vmm;
  const env = { ...process.env, MVM_CLONES: clones ? 'on' : 'off' };
  const config = loadAgentConfig({ flags: { dataDir }, env });
  return startAgent(config, { mode: 'runtime', vmm, logger, network: null });
}

/** Starts instance `n` of the pool, times it under `name`, and destroys it again. */
async function startOne(agent: AgentHandle, name: string, n: number): Promise<void> {
  const ref = { tenantId: 'bench', poolId: 'p', instanceId: `i${n}` };
  await agent.runtime.put(ref, { spec: spec(n) });
  const record = await timed(samples, name, () => agent.runtime.act(ref, 'start'));
  if (record.status !== 'running') throw new Error(`${name} ${n}: ${record.status}`);
  const status = await agent.deps.guests.for(record.handle!).status();
  if (name === 'clone' && status.hostname !== ref.instanceId)
    throw new Error(`clone ${n} did not take its identity (hostname ${status.hostname})`);
  await agent.runtime.act(ref, 'destroy');
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'mvm-bench-clone-'));
  const cold = await agentIn(join(root, 'cold'), false);
  const clones = await agentIn(join(root, 'clones'), true);
  try {
    // The pool's first start cold-boots and makes the base (timed apart, once).
    await startOne(clones, 'first start + base', 0);
    for (let i = 1; i <= runs; i += 1) {
      await startOne(cold, 'cold boot', i);
      await startOne(clones, 'clone', i);
    }
  } finally {
    await cold.close();
    await clones.close();
    await rm(root, { recursive: true, force: true });
  }
  report();
}

function report(): void {
  console.log(`qemu, 1 vCPU, 256 MiB, ${runs} runs each (medians)`);
  for (const name of ['first start + base', 'cold boot', 'clone', 'clone: restore (paused)']) {
    const all = samples.get(name) ?? [];
    console.log(
      `${name.padEnd(20)}${median(all).toFixed(0).padStart(8)} ms   [${all.map((v) => v.toFixed(0)).join(', ')}]`,
    );
  }
  const ratio = median(samples.get('clone') ?? []) / median(samples.get('cold boot') ?? []);
  console.log(
    `clone / cold boot: ${ratio.toFixed(3)} (${ratio <= 0.2 ? 'ok' : 'over'} the 1/5 goal)`,
  );
}

// The VMMs' taps live in a namespace of the bench's own, never on the host's network.
await inOwnNetns('mvmb-clones', [String(runs)], main);
