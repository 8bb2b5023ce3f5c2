import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { defineCommand, option } from '../../command.ts';
import { id } from '../../values.ts';
import { instanceTable } from '../../views/instance-views.ts';

export const instanceList = defineCommand({
  path: ['instance', 'list'],
  description: 'List instances, optionally only those of a tenant, pool or node',
  args: {},
  options: {
    tenant: option(id('tenant'), 'only this tenant'),
    pool: option(id('pool'), 'only pools with this id'),
    node: option(id('node'), 'only instances placed on this node'),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const query = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    const instances = await listAll(ctx.client(), 'listInstances', { query });
    return { data: instances, human: [instanceTable(instances)] };
  },
});
