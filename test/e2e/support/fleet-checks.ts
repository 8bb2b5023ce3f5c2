/** Assertions the two-node scenario repeats: where each instance lives, and on which agent. */
import { errorMessage } from '../../../src/core/errors.ts';
import type { LocalInstance } from '../../../src/contract/agent-api.ts';
import type { InstanceView } from '../../../src/contract/resources.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { AbortWait, waitUntil } from '../../../src/drivers/process/wait-until.ts';
import type { FleetLab } from './fleet-lab.ts';
import { NODE_IDS, type NodeId } from './fleet-topology.ts';
import { netnsOf, vmmPids } from './fleet-probes.ts';

/** What must never change for an instance: where it lives and who it is on the network. */
export const identityOf = (list: readonly InstanceView[]): string[] =>
  list.map((i) => `${i.id} node=${i.nodeId ?? '-'} ip=${i.ip} mac=${i.mac}`).sort();

export function onNode(list: readonly InstanceView[], node: NodeId): InstanceView {
  const here = list.filter((i) => i.nodeId === node);
  if (here.length !== 1) {
    throw new Error(`expected exactly one instance on ${node}, found ${here.length}`);
  }
  return here[0]!;
}

/** The instance as the node's own agent sees it; the other agent must not hold it. */
export async function localOf(
  lab: FleetLab,
  node: NodeId,
  instanceId: string,
): Promise<LocalInstance> {
  const mine = (await lab.agent(node).client.list()).find((i) => i.instanceId === instanceId);
  if (!mine)
    throw new Error(`agent ${node} does not hold ${instanceId}, the coordinator says it does`);
  for (const other of NODE_IDS.filter((n) => n !== node)) {
    const theirs = (await lab.agents[other]?.client.list())?.find(
      (i) => i.instanceId === instanceId,
    );
    if (theirs) throw new Error(`agent ${other} also holds ${instanceId} (${theirs.status})`);
  }
  return mine;
}

/** Exactly one live QEMU for the instance, in the namespace of the node that owns it. */
export async function soleVmmIn(
  lab: FleetLab,
  node: NodeId,
  local: LocalInstance,
): Promise<number> {
  const everywhere = [
    ...(await vmmPids(lab.agentDir('node-a'), local.key)),
    ...(await vmmPids(lab.agentDir('node-b'), local.key)),
  ];
  if (local.pid === null || everywhere.length !== 1 || everywhere[0] !== local.pid) {
    throw new Error(
      `${local.key}: expected one QEMU (pid ${String(local.pid)}) on ${node}, found [${everywhere.join(', ')}]`,
    );
  }
  const ns = await netnsOf(local.pid);
  if (ns !== lab.topology.nodeNs[node]) {
    throw new Error(`QEMU ${local.pid} of ${local.key} runs in namespace '${ns}', not ${node}'s`);
  }
  return local.pid;
}

/** No QEMU at all for the instance, on either node. */
export async function noVmm(lab: FleetLab, key: string): Promise<void> {
  const pids = [
    ...(await vmmPids(lab.agentDir('node-a'), key)),
    ...(await vmmPids(lab.agentDir('node-b'), key)),
  ];
  if (pids.length > 0) throw new Error(`${key} should have no QEMU, found [${pids.join(', ')}]`);
}

/** Checks `check` repeatedly for `ms`: it must hold every time (a stability window). */
export async function holdsFor(
  ms: number,
  what: string,
  check: () => Promise<void>,
): Promise<void> {
  const until = Date.now() + ms;
  let rounds = 0;
  await waitUntil(
    async () => {
      await check().catch((error: unknown) => {
        const why = errorMessage(error);
        throw new AbortWait(new Error(`${what} stopped holding after ${rounds} checks: ${why}`));
      });
      rounds += 1;
      return Date.now() >= until ? true : undefined;
    },
    { clock: systemClock, timeoutMs: ms + 30_000, intervalMs: 250, what },
  );
}
