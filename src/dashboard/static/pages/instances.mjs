import { count, h, replace, table } from '../dom.mjs';
import { shownStatus } from '../freshness.mjs';
import {
  actionButton,
  debounced,
  heartbeatWatch,
  instanceAction,
  instanceKey,
  liveInstances,
  nodeEvent,
  nodesOf,
  reloadOnEvents,
  staleNodes,
} from './common.mjs';

const STATUSES = [
  '',
  'stale',
  'created',
  'ready',
  'running',
  'warm',
  'sleeping',
  'stopped',
  'failed',
  'destroyed',
];

/**
 * Instances, filtered by tenant, pool and node on the server and by shown status here, kept
 * live by the instances watch: every change, an agent's status report included, is pushed.
 */
export async function instancesPage(ctx, main) {
  const filter = Object.fromEntries(
    ['tenant', 'pool', 'node', 'status'].map((k) => [k, ctx.query.get(k) ?? '']),
  );
  const state = { nodes: new Map(), instances: [] };
  const readNodes = async () => {
    state.nodes = await nodesOf(ctx, state.instances);
    if (!ctx.signal.aborted) render(Date.now());
  };
  const readNodesSoon = debounced(() => void readNodes().catch(() => undefined));
  const body = h('div', {});
  const render = (now) => {
    const stale = staleNodes(state.nodes, now, ctx.config.staleAfterMs);
    const rows = state.instances
      .map((i) => ({ i, shown: shownStatus(i, stale) }))
      .filter((r) => filter.status === '' || r.shown === filter.status);
    replace(
      body,
      h(
        'ul',
        { class: 'counts' },
        count('instances', rows.length, 'instances'),
        count('stale', rows.filter((r) => r.shown === 'stale').length, 'stale-instances'),
      ),
      table(
        'Instances (live)',
        ['Instance', 'Status', 'Desired', 'Node', 'IP', 'Revision', 'Actions'],
        rows,
        ({ i, shown }) => [
          h('a', { href: `#/instance/${i.tenantId}/${i.poolId}/${i.id}` }, instanceKey(i)),
          h(
            'td',
            { class: shown, dataset: { status: shown } },
            shown === 'stale' ? `stale (last: ${i.status})` : shown,
          ),
          i.desiredStatus,
          i.nodeId ?? '(unplaced)',
          i.ip,
          i.revision ?? '',
          h(
            'td',
            {},
            actionButton('Sleep', () => instanceAction(i, 'sleep'), `sleep ${instanceKey(i)}`),
            actionButton('Wake', () => instanceAction(i, 'wake'), `wake ${instanceKey(i)}`),
          ),
        ],
        ({ i }) => ({ dataset: { instance: instanceKey(i) } }),
      ),
    );
  };
  replace(main, h('h1', {}, 'Instances'), filterForm(filter), body);
  reloadOnEvents(ctx, nodeEvent, readNodes);
  heartbeatWatch(ctx, state, render);
  const { status: _status, ...server } = filter;
  let first = true;
  await liveInstances(ctx, server, async (instances) => {
    state.instances = instances;
    if (first) {
      first = false;
      await readNodes();
      return;
    }
    // An instance placed on a node not read yet has that node read.
    if (instances.some((i) => i.nodeId !== null && !state.nodes.has(i.nodeId))) readNodesSoon();
    render(Date.now());
  });
}

function filterForm(filter) {
  const field = (name, label) =>
    h(
      'span',
      {},
      h('label', { for: `f-${name}` }, label),
      h('input', { id: `f-${name}`, name, value: filter[name] }),
    );
  const status = h(
    'select',
    { id: 'f-status', name: 'status' },
    STATUSES.map((s) =>
      h('option', { value: s, selected: s === filter.status }, s === '' ? 'any' : s),
    ),
  );
  return h(
    'form',
    {
      role: 'search',
      'aria-label': 'Filter instances',
      onsubmit: (e) => {
        e.preventDefault();
        const data = new FormData(e.target);
        const q = new URLSearchParams([...data].filter(([, v]) => v !== ''));
        location.hash = `#/instances${q.size ? `?${q}` : ''}`;
      },
    },
    field('tenant', 'Tenant'),
    field('pool', 'Pool'),
    field('node', 'Node'),
    h('span', {}, h('label', { for: 'f-status' }, 'Status'), status),
    h('button', { type: 'submit' }, 'Filter'),
  );
}
