import { get, list } from '../api.mjs';
import { h, replace, table } from '../dom.mjs';
import { age, nodeStale } from '../freshness.mjs';
import {
  actionButton,
  fleetEvent,
  instanceAction,
  liveInstances,
  reloadOnEvents,
} from './common.mjs';
import { consoleTail, execBox } from './instance-sessions.mjs';
import { terminalBox } from './instance-terminal.mjs';
import { fileCopy } from './instance-files.mjs';

const SAMPLES = 60;
const ACTIONS = ['start', 'stop', 'warm', 'sleep', 'wake'];

/**
 * One instance: its record (live from the instances watch), its node's last sample as charts,
 * its console followed live, a command box, and its timeline from events. Reads re-draw the record and the timeline only:
 * the console and a running command keep their sessions.
 */
export async function instancePage(ctx, main) {
  const [tenant, pool, id] = ctx.params;
  const key = `${tenant}/${pool}/${id}`;
  const path = `/tenants/${tenant}/pools/${pool}/instances/${id}`;
  const history = [];
  const state = { stats: undefined, events: [] };
  const readStats = async () => {
    state.stats = await get(`${path}/stats`);
    const s = state.stats.sample;
    const at = state.stats.reportedAt;
    if (s && at !== history.at(-1)?.at)
      history.push({ at, cpu: (s.cpuPermille ?? 0) / 10, rssMib: (s.rssKib ?? 0) / 1024 });
    if (history.length > SAMPLES) history.shift();
  };
  const load = async () => {
    await readStats();
    const events = await list('/events', { tenant, last: 500 });
    state.events = events.filter((e) => e.target === key || e.target === `${tenant}/${pool}`);
    render(Date.now());
  };
  const head = h('div');
  const sessions = h('div');
  const timeline = h('div');
  const render = (now) => {
    const { instance: i, node } = state.stats;
    const stale = node !== null && nodeStale(node, now, ctx.config.staleAfterMs);
    replace(
      head,
      h('h1', {}, `Instance ${key}`),
      h(
        'dl',
        {},
        h('dt', {}, 'Status'),
        h(
          'dd',
          { class: stale ? 'stale' : i.status, dataset: { status: stale ? 'stale' : i.status } },
          stale ? `stale (last: ${i.status})` : i.status,
        ),
        h('dt', {}, 'Desired'),
        h('dd', {}, i.desiredStatus),
        h('dt', {}, 'Node'),
        h(
          'dd',
          {},
          node ? `${node.id} (heartbeat ${age(node.lastHeartbeat, now)} ago)` : '(unplaced)',
        ),
        h('dt', {}, 'IP'),
        h('dd', {}, i.ip),
        h('dt', {}, 'Revision'),
        h('dd', {}, i.revision ?? '(dev image)'),
        i.failureReason
          ? [h('dt', {}, 'Failure'), h('dd', { class: 'failed' }, i.failureReason)]
          : undefined,
      ),
      h(
        'p',
        {},
        ACTIONS.map((a) => actionButton(a, () => instanceAction(i, a), `${a} ${key}`)),
      ),
      h('h2', {}, 'Metrics (from its node’s heartbeats)'),
      chart(
        'CPU %',
        history.map((p) => p.cpu),
      ),
      chart(
        'Memory MiB (VMM RSS)',
        history.map((p) => p.rssMib),
      ),
    );
    replace(
      timeline,
      h('h2', {}, 'Timeline'),
      table(
        'Events of this instance and its pool, newest first',
        ['When', 'Actor', 'Action', 'Detail'],
        state.events,
        (e) => [e.at, e.actor, e.action, JSON.stringify(e.detail)],
      ),
    );
  };
  reloadOnEvents(
    ctx,
    (e) => fleetEvent(e) && (e.target === key || e.target.startsWith(`${tenant}/${pool}`)),
    load,
  );
  // The charts follow the node's heartbeats, which are not events: a read every 5 s.
  let ticks = 0;
  ctx.onTick.push(async (now) => {
    if (++ticks % 5 === 0) await readStats().catch(() => undefined);
    if (!ctx.signal.aborted && state.stats) render(now);
  });
  await load();
  // Its record follows the instances watch: a status its agent reports (no audit event) shows
  // as it is written.
  await liveInstances(ctx, { tenant, pool }, (instances) => {
    const now = instances.find((i) => i.id === id);
    if (!now || !state.stats) return;
    state.stats = { ...state.stats, instance: now };
    render(Date.now());
  });
  replace(main, head, sessions, timeline);
  replace(
    sessions,
    consoleTail(ctx, path, key),
    execBox(ctx, path, key),
    terminalBox(ctx, path, key),
    fileCopy(ctx, path, key),
  );
}

/** A line chart of the samples, drawn as SVG with its latest value in words beside it. */
function chart(title, values) {
  const W = 320;
  const H = 80;
  const max = Math.max(1, ...values);
  const points = values
    .map((v, n) => `${(n / Math.max(1, SAMPLES - 1)) * W},${H - (v / max) * (H - 4) - 2}`)
    .join(' ');
  const latest = values.at(-1);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', String(W));
  svg.setAttribute('height', String(H));
  svg.setAttribute('role', 'img');
  svg.setAttribute(
    'aria-label',
    `${title}: ${latest === undefined ? 'no sample yet' : latest.toFixed(1)}`,
  );
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points);
  svg.append(line);
  return h(
    'figure',
    {},
    svg,
    h('figcaption', {}, `${title}: ${latest === undefined ? 'no sample yet' : latest.toFixed(1)}`),
  );
}
