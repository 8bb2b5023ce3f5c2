/**
 * Two runtime agents (node-a, node-b) with their own data dirs on this host, and an in-process
 * coordinator on SQLite with a move relay: what the move tests drive as linked agents are.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MoveWorker } from '../../src/agent/move/move-worker.ts';
import { instanceDir } from '../../src/agent/runtime/layout.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { openStore } from '../../src/db/open-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { fleetOver, type Fleet } from '../coordinator/node-health-harness.ts';
import { agentDataDir, quietLogger, tcgVmm, testAgentConfig, workerSpec } from './agent-harness.ts';

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

/** A node's move worker as its link starts one, working in `<data dir>/moves`. */
export function moveWorkerOf(
  agent: AgentHandle,
  nodeId: string,
  api: ApiClient,
  logger: Logger = quietLogger,
): MoveWorker {
  const { deps, runtime } = agent;
  const workDir = join(deps.layout.dataDir, 'moves');
  return new MoveWorker({ api, nodeId, deps, runtime, workDir, logger });
}

/**
 * acme/web's one instance (tenant `netId`), placed on node-a and stopped, held stopped by
 * node-a's runtime (a stopped instance moves its data disk alone). `disk` is where its data
 * disk goes, its folder made; what it holds is the test's.
 */
export async function stoppedOnNodeA(fleet: Fleet, source: AgentHandle, netId: number) {
  await fleet.registerNode('node-a', 4);
  await fleet.ok('POST', '/tenants', { id: 'acme', netId });
  await fleet.ok('POST', '/tenants/acme/pools', { id: 'web', vcpus: 1, memMib: 256 });
  await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
  const [placed] = await fleet.instances();
  if (!placed) throw new Error('nothing placed');
  const path = `/tenants/acme/pools/web/instances/${placed.id}`;
  const ref = { tenantId: 'acme', poolId: 'web', instanceId: placed.id };
  await fleet.ok('POST', `${path}/actions`, { action: 'stop' });
  await fleet.report(placed, 'stopped');
  await source.runtime.put(ref, { spec: workerSpec(placed.ip, placed.mac) });
  const stopped = await source.runtime.act(ref, 'stop');
  const disk = join(instanceDir(source.deps.layout, stopped.key), 'drives', 'data.ext4');
  await mkdir(dirname(disk), { recursive: true });
  return { placed, path, ref, stopped, disk };
}
