import { get } from '../api.mjs';
import { count, h, replace, table } from '../dom.mjs';
import { reloadOnEvents, tenantsOf } from './common.mjs';

/** Tenants with their network, usage and quotas. */
export async function tenantsPage(ctx, main) {
  const load = async () => {
    const tenants = [];
    for (const id of await tenantsOf(ctx)) tenants.push(await get(`/tenants/${id}`));
    replace(
      main,
      h('h1', {}, 'Tenants'),
      h('ul', { class: 'counts' }, count('tenants', tenants.length, 'tenants')),
      table(
        'Tenants',
        [
          'Tenant',
          'Subnet',
          'Egress',
          'Pools',
          'Instances',
          'Running',
          'Warm',
          'vCPUs',
          'Memory MiB',
          'Quotas',
        ],
        tenants,
        (t) => [
          t.id,
          t.subnet,
          t.egress ? 'yes' : 'no',
          t.usage.pools,
          t.usage.instances,
          t.usage.running,
          t.usage.warm,
          t.usage.vcpus,
          t.usage.memMib,
          Object.entries(t.quotas)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
        ],
        (t) => ({ dataset: { tenant: t.id } }),
      ),
    );
  };
  reloadOnEvents(ctx, (e) => /^(tenant|pool|instance)\b/.test(e.action), load);
  await load();
}
