import { ValidationError } from '../../../core/errors.ts';
import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { tenantDetailBlocks } from '../../views/tenant-views.ts';
import { quotaOptions, quotasFrom } from './quota-options.ts';

export const tenantUpdate = defineCommand({
  path: ['tenant', 'update'],
  description: "Change a tenant's quotas (only the ones given)",
  args: { id: arg(id('tenant'), 'the tenant id') },
  options: quotaOptions,
  output: 'data',
  async handler(ctx, args, opts) {
    const quotas = quotasFrom(opts);
    if (Object.keys(quotas).length === 0) {
      const problem = 'nothing to change; pass at least one quota flag such as --max-vcpus <n>';
      throw new ValidationError(problem, [problem]);
    }
    const tenant = await ctx
      .client()
      .call('updateTenant', { params: { tenant: args.id }, body: { quotas } });
    return {
      data: tenant,
      human: [
        { kind: 'text', text: `updated quotas of tenant '${tenant.id}'` },
        ...tenantDetailBlocks(tenant),
      ],
    };
  },
});
