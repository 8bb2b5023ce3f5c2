import type { NodeView } from '../../contract/resources.ts';
import type { Block } from '../render.ts';

/** How nodes look to a human. */
export function nodeTable(nodes: readonly NodeView[]): Block {
  return {
    kind: 'table',
    columns: ['NODE', 'HOSTNAME', 'ARCH', 'STATUS', 'VCPUS', 'MEM MIB', 'DISK GIB', 'HEARTBEAT'],
    rows: nodes.map((n) => [
      n.id,
      n.hostname,
      n.arch,
      n.status,
      String(n.capacity.vcpus),
      String(n.capacity.memMib),
      String(n.capacity.diskGib),
      n.lastHeartbeat ?? 'never',
    ]),
    empty: 'no nodes have joined; run the agent on a KVM host to add one',
  };
}

export function nodeFields(n: NodeView): Block {
  const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`);
  return {
    kind: 'fields',
    fields: [
      ['node', n.id],
      ['hostname', n.hostname],
      ['arch', n.arch],
      ['status', n.status],
      [
        'capacity',
        `${n.capacity.vcpus} vcpus, ${n.capacity.memMib} MiB, ${n.capacity.diskGib} GiB disk`,
      ],
      ['labels', labels.length === 0 ? '-' : labels.join(', ')],
      ['last heartbeat', n.lastHeartbeat ?? 'never'],
      ['created', n.createdAt],
    ],
  };
}
