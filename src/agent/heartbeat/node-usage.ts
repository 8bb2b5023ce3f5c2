import type { InstanceStatus, NodeUsage } from '../../core/model.ts';

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
