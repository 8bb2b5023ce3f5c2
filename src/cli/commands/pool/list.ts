import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { poolTable } from '../../views/pool-views.ts';

export const poolList = defineCommand({
  path: ['pool', 'list'],
  description: "List a tenant's pools with their desired counts",
  args: { tenant: arg(id('tenant'), 'the tenant id') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const pools = await listAll(ctx.client(), 'listPools', { params: { tenant: args.tenant } });
    return { data: pools, human: [poolTable(pools, args.tenant)] };
  },
});
