import { instanceHeldMib } from '../../core/held-memory.ts';
import type { InstanceStatus, NodeUsage } from '../../core/model.ts';

/** What usage needs of a local VM record. */
export interface UsageRecord {
  key: string;
  status: InstanceStatus;
  spec: { vcpus: number; memMib: number };
}

/**
 * Running and warm VMs hold their vCPUs and RAM; sleeping and stopped ones hold only disk.
 * With `rssKibOf` (the activity tracker's last sample of each VMM) the usage also says what
 * they hold (`heldMemMib`): a VMM not sampled yet counts at its size.
 */
export function nodeUsage(
  records: readonly UsageRecord[],
  diskFreeMib: number,
  rssKibOf?: (key: string) => number | undefined,
): NodeUsage {
  const usage: NodeUsage = { vcpus: 0, memMib: 0, instances: {}, diskFreeMib };
  let held = 0;
  for (const { key, status, spec } of records) {
    usage.instances[status] = (usage.instances[status] ?? 0) + 1;
    if (status === 'running' || status === 'warm') {
      usage.vcpus += spec.vcpus;
      usage.memMib += spec.memMib;
      held += instanceHeldMib(spec.memMib, rssKibOf?.(key));
    }
  }
  if (rssKibOf) usage.heldMemMib = held;
  return usage;
}
