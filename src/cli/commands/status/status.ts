/**
 * `mvm status` (seed 002 §1–2): is this host's part of mvm up? The coordinator it is
 * configured for, this host's node there, and the local agent with its VMs by status. Each
 * part answers on its own, so one that is down is named instead of failing the command.
 */
import { hostname } from 'node:os';
import { nodeIdFromHostname } from '../../../agent/join/host-facts.ts';
import { isMvmError } from '../../../core/errors.ts';
import { defineCommand } from '../../command.ts';
import type { Block } from '../../render.ts';
import { localAgent } from '../agent/local-agent.ts';

export interface StatusView {
  coordinator: { url: string; up: boolean; version?: string; store?: string; error?: string };
  node: { id: string; registered: boolean; status?: string; lastHeartbeat?: string | null };
  agent: { socket: string; up: boolean; instances?: Record<string, number>; error?: string };
}

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const status = defineCommand({
  path: ['status'],
  description:
    "This host at a glance: the coordinator (reachable, version, store), this host's node there, and the local agent with its VMs by status",
  args: {},
  options: {},
  output: 'data',
  async handler(ctx) {
    const url = ctx.config().coordinatorUrl;
    const client = ctx.client();
    const view: StatusView = {
      coordinator: { url, up: false },
      node: { id: nodeIdFromHostname(hostname()), registered: false },
      agent: { socket: ctx.agentConfig().socket, up: false },
    };
    try {
      const health = await client.call('health', {});
      view.coordinator = { url, up: true, version: health.version, store: health.store };
      const node = await client.call('getNode', { params: { node: view.node.id } });
      view.node = {
        id: node.id,
        registered: true,
        status: node.status,
        lastHeartbeat: node.lastHeartbeat,
      };
    } catch (error) {
      const missingNode = isMvmError(error) && error.code === 'not_found';
      if (!missingNode) view.coordinator.error = reason(error);
    }
    try {
      const instances: Record<string, number> = {};
      for (const vm of await localAgent(ctx).list())
        instances[vm.status] = (instances[vm.status] ?? 0) + 1;
      view.agent = { ...view.agent, up: true, instances };
    } catch (error) {
      view.agent.error = reason(error);
    }
    return { data: view, human: statusFields(view) };
  },
});

function statusFields(view: StatusView): Block[] {
  const { coordinator, node, agent } = view;
  const vms = Object.entries(agent.instances ?? {})
    .map(([name, count]) => `${count} ${name}`)
    .join(', ');
  return [
    {
      kind: 'fields',
      fields: [
        [
          'coordinator',
          coordinator.up
            ? `${coordinator.url} (mvm ${coordinator.version ?? '?'}, ${coordinator.store ?? '?'})`
            : `${coordinator.url} unreachable: ${coordinator.error ?? 'no answer'}`,
        ],
        [
          'node',
          node.registered
            ? `${node.id}: ${node.status ?? '?'}, last heartbeat ${node.lastHeartbeat ?? 'never'}`
            : `${node.id}: not registered (run 'mvm add host')`,
        ],
        [
          'agent',
          agent.up
            ? `serving on ${agent.socket}: ${vms === '' ? 'no VMs' : vms}`
            : `not serving on ${agent.socket} (run 'mvm agent serve'): ${agent.error ?? ''}`,
        ],
      ],
    },
  ];
}
