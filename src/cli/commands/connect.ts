import { arg, defineCommand } from '../command.ts';
import { id } from '../values.ts';
import { OPENCLAW_CONFIG_FILE, OPENCLAW_PORT } from '../../core/openclaw-config.ts';
import { connectBlocks, connectView, openclawAccess } from '../views/connect-views.ts';
import { publishAddresses } from '../views/published-views.ts';

export const connect = defineCommand({
  path: ['connect'],
  description:
    'A deployment at a glance: its network (gateway IP, subnet, bridge, egress), pools (roles, resources, desired and observed counts), instances (ids, statuses, IPs, nodes) and the commands to use next',
  args: { name: arg(id('tenant'), 'the deployment (its tenant id)') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const client = ctx.client();
    const tenant = await client.call('getTenant', { params: { tenant: args.name } });
    const listed = await client.call('listPools', { params: { tenant: args.name } });
    const pools = [];
    for (const pool of listed) {
      pools.push(await client.call('getPool', { params: { tenant: args.name, pool: pool.id } }));
    }
    const instances = await client.call('listInstances', { query: { tenant: args.name } });
    // Where each node's published ports listen, from its heartbeats; the node list is the
    // admin's, so a tenant's token sees the default address.
    const nodes = pools.some((p) => (p.publish ?? []).length > 0)
      ? await client.call('listNodes', {}).catch(() => [])
      : [];
    const addresses = publishAddresses(nodes);
    let openclaw;
    for (const pool of pools.filter((p) => p.role === 'gateway')) {
      const config = await client.call('getPoolConfig', {
        params: { tenant: args.name, pool: pool.id },
      });
      if (OPENCLAW_CONFIG_FILE in config.files) {
        openclaw = openclawAccess(args.name, pool, instances, OPENCLAW_PORT, addresses);
        break;
      }
    }
    const view = connectView(tenant, pools, instances, openclaw, client.baseUrl, addresses);
    return { data: view, human: connectBlocks(view) };
  },
});
