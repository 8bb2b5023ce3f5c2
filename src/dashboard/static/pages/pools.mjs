import { list, post } from '../api.mjs';
import { count, h, replace, table } from '../dom.mjs';
import { actionButton, reloadOnEvents, tenantsOf } from './common.mjs';

const SLOTS = ['running', 'warm', 'sleeping'];

/** Pools: desired against actual counts, their revision, and a scale form. */
export async function poolsPage(ctx, main) {
  const load = async () => {
    const pools = [];
    for (const tenant of await tenantsOf(ctx))
      pools.push(...(await list(`/tenants/${tenant}/pools`)));
    const instances = await list('/instances');
    const actual = (p, status) =>
      instances.filter((i) => i.tenantId === p.tenantId && i.poolId === p.id && i.status === status)
        .length;
    replace(
      main,
      h('h1', {}, 'Pools'),
      h('ul', { class: 'counts' }, count('pools', pools.length, 'pools')),
      table(
        'Pools: desired / actual instances by status',
        ['Pool', 'Role', 'Revision', ...SLOTS.map((s) => `${s} (desired / actual)`), 'Scale'],
        pools,
        (p) => [
          `${p.tenantId}/${p.id}`,
          p.role,
          p.revision ?? '(dev image)',
          ...SLOTS.map((s) =>
            h('td', { class: 'num', dataset: { slot: s } }, `${p.counts[s]} / ${actual(p, s)}`),
          ),
          scaleForm(p, load),
        ],
        (p) => ({ dataset: { pool: `${p.tenantId}/${p.id}` } }),
      ),
    );
  };
  reloadOnEvents(ctx, (e) => /^(pool|instance|rollout)\b/.test(e.action), load);
  await load();
}

function scaleForm(p, reload) {
  const inputs = SLOTS.map((s) =>
    h('input', {
      type: 'number',
      min: 0,
      value: p.counts[s],
      name: s,
      'aria-label': `${p.tenantId}/${p.id} desired ${s}`,
    }),
  );
  const scale = () =>
    post(`/tenants/${p.tenantId}/pools/${p.id}/scale`, {
      ...Object.fromEntries(inputs.map((i) => [i.name, Number(i.value)])),
      expectedVersion: p.version,
    }).then(reload);
  return h(
    'td',
    {},
    h(
      'span',
      { class: 'inline' },
      inputs,
      actionButton('Scale', scale, `scale ${p.tenantId}/${p.id}`),
    ),
  );
}
