import { ValidationError } from '../../../core/errors.ts';
import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { tenantDetailBlocks } from '../../views/tenant-views.ts';
import {
  egressFrom,
  egressOption,
  maxRunningJobsFrom,
  maxRunningJobsOption,
  quotaOptions,
  quotasFrom,
} from './quota-options.ts';

export const tenantUpdate = defineCommand({
  path: ['tenant', 'update'],
  description:
    "Change a tenant's quotas (only the ones given) or its egress NAT (--egress on|off, applied by every node running it on its next pass)",
  args: { id: arg(id('tenant'), 'the tenant id') },
  options: { ...quotaOptions, egress: egressOption, maxRunningJobs: maxRunningJobsOption },
  output: 'data',
  async handler(ctx, args, opts) {
    const quotas = quotasFrom(opts);
    const egress = egressFrom(opts.egress);
    const jobs = maxRunningJobsFrom(opts.maxRunningJobs);
    const hasQuotas = Object.keys(quotas).length > 0;
    if (!hasQuotas && egress.egress === undefined && jobs.maxRunningJobs === undefined) {
      const problem =
        'nothing to change; pass at least one quota flag such as --max-vcpus <n> or --max-running-jobs <n>, or --egress on|off';
      throw new ValidationError(problem, [problem]);
    }
    const body = { ...(hasQuotas ? { quotas } : {}), ...egress, ...jobs };
    const tenant = await ctx.client().call('updateTenant', { params: { tenant: args.id }, body });
    const what = [
      hasQuotas ? 'quotas' : '',
      jobs.maxRunningJobs === undefined ? '' : 'running-jobs quota',
      egress.egress === undefined ? '' : 'egress',
    ];
    return {
      data: tenant,
      human: [
        {
          kind: 'text',
          text: `updated ${what.filter(Boolean).join(' and ')} of tenant '${tenant.id}'`,
        },
        ...tenantDetailBlocks(tenant),
      ],
    };
  },
});
