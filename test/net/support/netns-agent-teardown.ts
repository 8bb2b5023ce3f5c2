import { rm } from 'node:fs/promises';
import type { AgentHandle } from '../../../src/agent/start-agent.ts';
import type { Vmm } from '../../../src/ports/vmm.ts';
import type { NetLab } from './net-lab.ts';

/**
 * The end of a suite whose agent ran guests in a lab namespace: every VMM the agent knows
 * stopped first (a guest left running would outlive its namespace), the agent closed, the
 * lab's namespaces removed, the agent's data dir deleted. Each part may be missing.
 */
export async function tearDownNetnsAgent(parts: {
  agent: AgentHandle | undefined;
  vmm: Vmm | undefined;
  lab: NetLab | undefined;
  dataDir: string;
}): Promise<void> {
  const { agent, vmm, lab, dataDir } = parts;
  for (const record of (await agent?.runtime.list().catch(() => [])) ?? []) {
    if (record.handle) await vmm?.stop(record.handle).catch(() => undefined);
  }
  await agent?.close().catch(() => undefined);
  await lab?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
