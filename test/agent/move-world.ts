/**
 * Two runtime agents (node-a, node-b) with their own data dirs on this host, and an in-process
 * coordinator on SQLite with a move relay: what the move tests drive as linked agents are.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { fleetOver, type Fleet } from '../coordinator/node-health-harness.ts';
import { agentDataDir, quietLogger, tcgVmm, testAgentConfig } from './agent-harness.ts';

export interface MoveWorld {
  work: string;
  store: Store;
  fleet: Fleet;
  agents: Record<'node-a' | 'node-b', AgentHandle>;
}

/** Every directory it makes is pushed on `dirs` for the caller's cleanup. */
export async function startMoveWorld(
  label: string,
  dirs: string[],
  coordinator: { moveRelayMaxBytes?: number } = {},
): Promise<MoveWorld> {
  const work = await mkdtemp(join(tmpdir(), `mvm-${label}-`));
  dirs.push(work);
  const store = await openStore(join(work, 'coordinator.sqlite'));
  const fleet = await fleetOver(store, { moveRelayDir: join(work, 'relay'), ...coordinator });
  const agents = {} as MoveWorld['agents'];
  for (const node of ['node-a', 'node-b'] as const) {
    const dataDir = await agentDataDir(`${label}${node.slice(-1)}`);
    dirs.push(dataDir);
    agents[node] = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm: tcgVmm(),
      logger: quietLogger,
      network: null,
    });
  }
  return { work, store, fleet, agents };
}

/** Destroys the agents' VMs and closes them, then the store, then removes `dirs`. */
export async function closeMoveWorld(
  agents: Record<string, AgentHandle>,
  store: Store | undefined,
  dirs: string[],
): Promise<void> {
  for (const agent of Object.values(agents)) {
    for (const vm of await agent.runtime.list()) {
      await agent.runtime.act(vm, 'destroy').catch(() => undefined);
    }
    await agent.close();
  }
  await store?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}
