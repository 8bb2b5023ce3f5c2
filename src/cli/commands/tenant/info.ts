import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { tenantDetailBlocks } from '../../views/tenant-views.ts';

export const tenantInfo = defineCommand({
  path: ['tenant', 'info'],
  description: "Show a tenant's network, quotas and usage",
  args: { id: arg(id('tenant'), 'the tenant id') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const tenant = await ctx.client().call('getTenant', { params: { tenant: args.id } });
    return { data: tenant, human: tenantDetailBlocks(tenant) };
  },
});
