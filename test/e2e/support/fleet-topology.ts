/**
 * The fleet's private wire: three test namespaces (coordinator, node-a, node-b) joined by a
 * bridge inside the coordinator namespace on 192.168.250.0/24. Nothing reaches the root
 * namespace; every namespace is `mvmt-<pid>-*` and goes away with `NetLab.cleanup()`.
 */
import type { NetLab } from '../../net/support/net-lab.ts';

export const FLEET_SUBNET = '192.168.250';
export const COORDINATOR_IP = `${FLEET_SUBNET}.1`;
export const NODE_IDS = ['node-a', 'node-b'] as const;
export type NodeId = (typeof NODE_IDS)[number];

export interface FleetTopology {
  coordinatorNs: string;
  nodeNs: Record<NodeId, string>;
  nodeIp: Record<NodeId, string>;
}

/** Every namespace is recorded in `lab` as soon as it exists, so cleanup finds a partial build. */
export async function buildFleetTopology(lab: NetLab): Promise<FleetTopology> {
  const coordinatorNs = await lab.namespace('coord');
  await lab.ip(coordinatorNs, ['link', 'add', 'fleet0', 'type', 'bridge']);
  await lab.ip(coordinatorNs, ['addr', 'add', `${COORDINATOR_IP}/24`, 'dev', 'fleet0']);
  await lab.ip(coordinatorNs, ['link', 'set', 'fleet0', 'up']);
  const nodeNs = {} as Record<NodeId, string>;
  const nodeIp = {} as Record<NodeId, string>;
  for (const [index, node] of NODE_IDS.entries()) {
    const ns = await lab.namespace(node);
    const ip = `${FLEET_SUBNET}.${11 + index}`;
    const port = `up-${node}`;
    await lab.ip(coordinatorNs, [
      'link',
      'add',
      port,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ]);
    await lab.ip(coordinatorNs, ['link', 'set', port, 'master', 'fleet0']);
    await lab.ip(coordinatorNs, ['link', 'set', port, 'up']);
    await lab.ip(ns, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await lab.ip(ns, ['link', 'set', 'eth0', 'up']);
    nodeNs[node] = ns;
    nodeIp[node] = ip;
  }
  return { coordinatorNs, nodeNs, nodeIp };
}
