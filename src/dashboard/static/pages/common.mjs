import { ApiError, get, list, post, watchInstances } from '../api.mjs';
import { h } from '../dom.mjs';
import { nodeStale } from '../freshness.mjs';

/** Runs `fn` once, `ms` after the last of a burst of calls. */
export function debounced(fn, ms = 100) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/** Reloads the page's data on each audit event `wanted` accepts (pushed, never polled). */
export function reloadOnEvents(ctx, wanted, reload) {
  const again = debounced(() => {
    if (!ctx.signal.aborted) void reload();
  });
  ctx.onEvent.push((event) => {
    if (wanted(event)) again();
  });
}

/** Watches whose rows and cursor outlive a page's re-draw, by query (a few at most). */
const KEPT_WATCHES = 8;

function keptWatch(ctx, query) {
  ctx.live.watches ??= new Map();
  const kept = ctx.live.watches;
  const key = JSON.stringify(query);
  const found = kept.get(key) ?? { rows: new Map(), since: undefined };
  kept.delete(key);
  kept.set(key, found);
  while (kept.size > KEPT_WATCHES) kept.delete(kept.keys().next().value);
  return found;
}

/**
 * The instances `query` selects, kept live from the instances watch: `onList(instances)` once
 * the list is whole (awaited before this resolves), then after each change (a burst drawn
 * once). Every status an agent reports arrives this way, audited or not. A broken stream, or
 * the page drawn again (after the audit stream's break), opens the watch again with the id of
 * the last whole batch it saw (`Last-Event-ID`) and the rows it held, so only what changed
 * meanwhile comes (`resumed`); a coordinator that pruned the deletions since then says `reset`
 * and sends the whole list, which replaces what the page held. Resolves once the first list is
 * drawn; rejects when the first opening fails (a 401 goes to the login form).
 */
export function liveInstances(ctx, query, onList) {
  const kept = keptWatch(ctx, query);
  const rows = kept.rows;
  return new Promise((resolve, reject) => {
    let first = true;
    const draw = () => (ctx.signal.aborted ? undefined : onList([...rows.values()].sort(byKey)));
    const drawSoon = debounced(draw, 50);
    const whole = () => {
      const drawn = Promise.resolve(draw());
      if (first) {
        first = false;
        drawn.then(resolve, reject);
      }
    };
    const run = async () => {
      for (let delay = 500; !ctx.signal.aborted; delay = Math.min(delay * 2, 8000)) {
        // Without a cursor the watch starts with the whole list, which replaces the rows.
        let listing = kept.since === undefined;
        const list = new Map();
        try {
          await watchInstances(
            query,
            ctx.signal,
            (change, id) => {
              if (change.type === 'reset') {
                listing = true;
                list.clear();
                return;
              }
              if (change.type === 'resumed' || change.type === 'synced') {
                delay = 500;
                if (change.type === 'synced') {
                  listing = false;
                  rows.clear();
                  for (const [key, i] of list) rows.set(key, i);
                }
                if (id !== undefined) kept.since = id;
                return whole();
              }
              const key = instanceKey(change.instance);
              const into = listing ? list : rows;
              if (change.type === 'deleted') into.delete(key);
              else into.set(key, change.instance);
              if (listing) return;
              // Only a whole batch moves the cursor: one cut off mid-batch is read again.
              if (id !== undefined) kept.since = id;
              if (!first) drawSoon();
            },
            kept.since,
          );
        } catch (error) {
          if (first) return reject(error);
        }
        await new Promise((done) => setTimeout(done, delay));
      }
    };
    void run();
  });
}

const byKey = (a, b) => {
  const [x, y] = [instanceKey(a), instanceKey(b)];
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Events that may change a node's state. */
export const nodeEvent = (event) => /^node\b/.test(event.action);

/** Events that may change instances or pools. */
export const fleetEvent = (event) =>
  /^(instance|pool|wake|node|tenant|rollout)\b/.test(event.action);

export function tenantsOf(ctx) {
  return ctx.identity.admin
    ? list('/tenants').then((ts) => ts.map((t) => t.id))
    : [ctx.identity.tenant];
}

/**
 * The nodes the instances sit on, by id. The admin reads the node list; a tenant's token may
 * not, so its instances' own stats name their node and its last heartbeat.
 */
export async function nodesOf(ctx, instances) {
  if (ctx.identity.admin) return new Map((await list('/nodes')).map((n) => [n.id, n]));
  const nodes = new Map();
  for (const i of instances) {
    if (i.nodeId === null || nodes.has(i.nodeId)) continue;
    const stats = await get(`/tenants/${i.tenantId}/pools/${i.poolId}/instances/${i.id}/stats`);
    if (stats.node) nodes.set(stats.node.id, stats.node);
  }
  return nodes;
}

/**
 * Heartbeats are not audit events: a node's age grows on the page between reads. Before the
 * page calls a node stale from what it holds, it reads the nodes again (once per quarter of
 * the stale time at most), so only a node that really went quiet shows stale.
 */
export function heartbeatWatch(ctx, state, rerender) {
  const { staleAfterMs } = ctx.config;
  let lastRead = Date.now();
  ctx.onTick.push(async (now) => {
    const ageing = [...state.nodes.values()].some((n) =>
      nodeStale(n, now + staleAfterMs / 2, staleAfterMs),
    );
    if (ageing && now - lastRead > staleAfterMs / 4) {
      lastRead = now;
      state.nodes = await nodesOf(ctx, state.instances).catch(() => state.nodes);
    }
    if (!ctx.signal.aborted) rerender(now);
  });
}

export function staleNodes(nodes, now, staleAfterMs) {
  return new Set(
    [...nodes.values()].filter((n) => nodeStale(n, now, staleAfterMs)).map((n) => n.id),
  );
}

export const instancePath = (i) => `/tenants/${i.tenantId}/pools/${i.poolId}/instances/${i.id}`;
export const instanceKey = (i) => `${i.tenantId}/${i.poolId}/${i.id}`;

/** A button that asks the API for something and shows the refusal, if any, beside itself. */
export function actionButton(label, run, name) {
  const out = h('span', { role: 'status', class: 'error' });
  const button = h(
    'button',
    {
      type: 'button',
      'aria-label': name,
      onclick: async () => {
        button.disabled = true;
        out.textContent = '';
        try {
          await run();
        } catch (error) {
          out.textContent = error instanceof ApiError ? error.message : String(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    label,
  );
  return h('span', {}, button, out);
}

export function instanceAction(i, action) {
  return post(`${instancePath(i)}/actions`, { action });
}
