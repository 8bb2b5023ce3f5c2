import { ApiError, get, list, post } from '../api.mjs';
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
