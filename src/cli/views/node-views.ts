import type { NodeView } from '../../contract/resources.ts';
import type { Block } from '../render.ts';

/** How long ago an ISO time was, coarsely: `42s ago`, `5m ago`, `3h ago`, `2d ago`. */
export function ageOf(iso: string | null, now: Date): string {
  if (iso === null) return 'never';
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (Number.isNaN(seconds)) return iso;
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86_400)}d ago`;
}

/** `used/total`, or the total alone before the node's first heartbeat. */
const usedOf = (used: number | undefined, total: number): string =>
  used === undefined ? String(total) : `${used}/${total}`;

function usageText(usage: NonNullable<NodeView['usage']>): string {
  const counts = Object.entries(usage.instances)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`);
  const instances = counts.length === 0 ? 'no instances' : counts.join(', ');
  return `${usage.vcpus} vcpus, ${usage.memMib} MiB held; ${instances}; ${usage.diskFreeMib} MiB disk free`;
}

/** How nodes look to a human. `now` dates the heartbeats. */
export function nodeTable(nodes: readonly NodeView[], now: Date): Block {
  return {
    kind: 'table',
    columns: [
      'NODE',
      'HOSTNAME',
      'ARCH',
      'STATUS',
      'UNDERLAY',
      'VCPUS',
      'MEM MIB',
      'DISK GIB',
      'HEARTBEAT',
    ],
    rows: nodes.map((n) => [
      n.id,
      n.hostname,
      n.arch,
      n.status,
      n.underlayIp ?? '-',
      usedOf(n.usage?.vcpus, n.capacity.vcpus),
      usedOf(n.usage?.memMib, n.capacity.memMib),
      String(n.capacity.diskGib),
      ageOf(n.lastHeartbeat, now),
    ]),
    empty: 'no nodes have joined; run the agent on a KVM host to add one',
  };
}

export function nodeFields(n: NodeView, now: Date): Block {
  const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`);
  return {
    kind: 'fields',
    fields: [
      ['node', n.id],
      ['hostname', n.hostname],
      ['arch', n.arch],
      ['status', n.status],
      ['underlay', n.underlayIp ?? 'unknown (tenant networks cannot span this node)'],
      [
        'capacity',
        `${n.capacity.vcpus} vcpus, ${n.capacity.memMib} MiB, ${n.capacity.diskGib} GiB disk`,
      ],
      ['usage', n.usage === null ? 'not reported yet' : usageText(n.usage)],
      ['labels', labels.length === 0 ? '-' : labels.join(', ')],
      [
        'last heartbeat',
        n.lastHeartbeat === null ? 'never' : `${n.lastHeartbeat} (${ageOf(n.lastHeartbeat, now)})`,
      ],
      ['created', n.createdAt],
    ],
  };
}
