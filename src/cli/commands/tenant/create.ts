import { arg, defineCommand, option } from '../../command.ts';
import { id, integer, text } from '../../values.ts';
import { tenantFields } from '../../views/tenant-views.ts';
import {
  egressFrom,
  egressOption,
  maxRunningJobsFrom,
  maxRunningJobsOption,
  quotaOptions,
  quotasFrom,
} from './quota-options.ts';

export const tenantCreate = defineCommand({
  path: ['tenant', 'create'],
  description: 'Create a tenant: a security, quota and network boundary with its own /24',
  args: { id: arg(id('tenant'), 'the new tenant id') },
  options: {
    netId: option(
      integer(),
      'network id (VXLAN VNI, bridge br-tenant-<id>); the coordinator picks one if omitted',
    ),
    subnet: option(
      text('<cidr>'),
      'the tenant /24 inside the cluster CIDR; derived from the net id if omitted',
    ),
    ...quotaOptions,
    egress: egressOption,
    maxRunningJobs: maxRunningJobsOption,
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const quotas = quotasFrom(opts);
    const tenant = await ctx.client().call('createTenant', {
      body: {
        id: args.id,
        ...(opts.netId === undefined ? {} : { netId: opts.netId }),
        ...(opts.subnet === undefined ? {} : { subnet: opts.subnet }),
        ...(Object.keys(quotas).length === 0 ? {} : { quotas }),
        ...egressFrom(opts.egress),
        ...maxRunningJobsFrom(opts.maxRunningJobs),
      },
    });
    return {
      data: tenant,
      human: [
        { kind: 'text', text: `created tenant '${tenant.id}'` },
        tenantFields(tenant),
        {
          kind: 'text',
          text: `next: mvm pool create ${tenant.id}/<pool> --flake <ref> --profile <name> --cpus <n> --mem <MiB>`,
        },
      ],
    };
  },
});
