import { list, text } from '../api.mjs';
import { count, h, replace, table } from '../dom.mjs';
import { age } from '../freshness.mjs';
import { byLabel, parseProm } from '../prom.mjs';
import {
  heartbeatWatch,
  nodesOf,
  reloadOnEvents,
  fleetEvent,
  staleNodes,
  tenantsOf,
} from './common.mjs';

const MIB = 1024 * 1024;

/** The fleet: nodes with capacity against allocation against use, and their heartbeat age. */
export async function overviewPage(ctx, main) {
  const state = { nodes: new Map(), instances: [], tenants: [], allocated: undefined };
  const load = async () => {
    state.instances = await list('/instances');
    state.tenants = await tenantsOf(ctx);
    state.nodes = await nodesOf(ctx, state.instances);
    // Allocation is the coordinator's own figure (core/metrics/fleet-metrics.ts), admin only.
    if (ctx.identity.admin) state.allocated = parseProm(await text('/metrics'));
    render(Date.now());
  };
  const render = (now) => {
    const stale = staleNodes(state.nodes, now, ctx.config.staleAfterMs);
    const alloc = state.allocated ?? [];
    const vcpus = byLabel(alloc, 'mvm_node_allocated_vcpus', 'node');
    const mem = byLabel(alloc, 'mvm_node_allocated_memory_bytes', 'node');
    const nodes = [...state.nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
    const placed = (id) => state.instances.filter((i) => i.nodeId === id).length;
    replace(
      main,
      h('h1', {}, 'Fleet'),
      h(
        'ul',
        { class: 'counts' },
        count('nodes', nodes.length, 'nodes'),
        count('stale nodes', stale.size, 'stale-nodes'),
        count('instances', state.instances.length, 'instances'),
        count('tenants', state.tenants.length, 'tenants'),
      ),
      ctx.identity.admin
        ? undefined
        : h('p', {}, 'A tenant token sees only the nodes its instances are on.'),
      table(
        'Nodes: capacity, allocated (instances placed, desired running or warm), used (reported)',
        [
          'Node',
          'Status',
          'Heartbeat age',
          'vCPU capacity',
          'vCPU allocated',
          'vCPU used',
          'Memory MiB capacity',
          'Memory MiB allocated',
          'Memory MiB used',
          'Instances',
        ],
        nodes,
        (n) => [
          n.id,
          stale.has(n.id) ? h('td', { class: 'stale' }, `stale (${n.status})`) : (n.status ?? ''),
          age(n.lastHeartbeat, now),
          n.capacity?.vcpus ?? '',
          vcpus.get(n.id) ?? '',
          n.usage?.vcpus ?? '',
          n.capacity?.memMib ?? '',
          mem.has(n.id) ? Math.round(mem.get(n.id) / MIB) : '',
          n.usage?.memMib ?? '',
          placed(n.id),
        ],
        (n) => ({ dataset: { node: n.id } }),
      ),
    );
  };
  reloadOnEvents(ctx, fleetEvent, load);
  heartbeatWatch(ctx, state, render);
  await load();
}
