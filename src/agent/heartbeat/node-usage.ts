import { statfs } from 'node:fs/promises';
import type { InstanceStatus, NodeCapacity, NodeUsage } from '../../core/model.ts';
import { hostFacts } from '../join/host-facts.ts';

/** What usage needs of a local VM record. */
export interface UsageRecord {
  status: InstanceStatus;
  spec: { vcpus: number; memMib: number };
}

/** Running and warm VMs hold their vCPUs and RAM; sleeping and stopped ones hold only disk. */
export function nodeUsage(records: readonly UsageRecord[], diskFreeMib: number): NodeUsage {
  const usage: NodeUsage = { vcpus: 0, memMib: 0, instances: {}, diskFreeMib };
  for (const { status, spec } of records) {
    usage.instances[status] = (usage.instances[status] ?? 0) + 1;
    if (status === 'running' || status === 'warm') {
      usage.vcpus += spec.vcpus;
      usage.memMib += spec.memMib;
    }
  }
  return usage;
}

/** The host's capacity (as reported when it joined) and the free disk under the data dir. */
export async function measureHost(
  dataDir: string,
): Promise<{ capacity: NodeCapacity; diskFreeMib: number }> {
  const { capacity } = await hostFacts(dataDir);
  const disk = await statfs(dataDir).catch(() => undefined);
  const diskFreeMib = disk === undefined ? 0 : Math.floor((disk.bavail * disk.bsize) / 1024 ** 2);
  return { capacity, diskFreeMib };
}
