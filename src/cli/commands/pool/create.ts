import { roles } from '../../../core/model.ts';
import { MAX_SLEEP_POLICY_SECS } from '../../../core/sleep-policy.ts';
import { arg, defineCommand, flag, option, requiredOption } from '../../command.ts';
import { choice, integer, poolPath } from '../../values.ts';
import { poolFields } from '../../views/pool-views.ts';
import { idleFields, idleOptions } from './idle-options.ts';
import { createHooks, publishFields, publishOptions } from './publish-options.ts';
import { sourceFields, sourceOptions } from './source-options.ts';

export const poolCreate = defineCommand({
  path: ['pool', 'create'],
  description:
    'Create a pool of identical microVMs in a tenant (its role is fixed for life); its image comes from --image, --flake/--profile, or the dev image',
  args: { path: arg(poolPath, 'the tenant and the new pool id') },
  options: {
    ...sourceOptions,
    cpus: requiredOption(integer(1), 'vCPUs per instance'),
    mem: requiredOption(integer(1), 'memory per instance in MiB'),
    dataDisk: option(integer(), 'persistent data disk per instance in MiB (default 1024)'),
    role: option(
      choice(roles, '<role>'),
      'gateway, builder, worker (default) or capability-imessage',
    ),
    pinned: flag('keep instances on their node (never rebalanced)'),
    critical: flag('never put instances to sleep automatically'),
    minRunningSecs: option(
      integer(0, MAX_SLEEP_POLICY_SECS),
      'seconds an instance stays running before a scale-down may demote it (default 0)',
    ),
    minWarmSecs: option(
      integer(0, MAX_SLEEP_POLICY_SECS),
      'seconds an instance stays warm before it may go to sleep or stop (default 0)',
    ),
    ...idleOptions,
    ...publishOptions,
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const pool = await ctx.client().call('createPool', {
      params: { tenant: args.path.tenantId },
      body: {
        id: args.path.poolId,
        ...sourceFields(opts),
        vcpus: opts.cpus,
        memMib: opts.mem,
        ...(opts.dataDisk === undefined ? {} : { dataDiskMib: opts.dataDisk }),
        ...(opts.role === undefined ? {} : { role: opts.role }),
        pinned: opts.pinned ?? false,
        critical: opts.critical ?? false,
        ...(opts.minRunningSecs === undefined ? {} : { minRunningSecs: opts.minRunningSecs }),
        ...(opts.minWarmSecs === undefined ? {} : { minWarmSecs: opts.minWarmSecs }),
        ...idleFields(opts),
        ...createPublish(opts),
      },
    });
    const ref = `${pool.tenantId}/${pool.id}`;
    return {
      data: pool,
      human: [
        { kind: 'text', text: `created pool '${ref}'` },
        poolFields(pool),
        {
          kind: 'text',
          text:
            pool.image === null && pool.flake === null
              ? `next: mvm pool scale ${ref} --running <n>`
              : `next: mvm pool build ${ref}, then mvm pool update ${ref} --revision <id>`,
        },
      ],
    };
  },
});

/** Published ports and hooks as a create sets them. */
function createPublish(opts: Parameters<typeof publishFields>[0]): {
  publish?: { hostPort: number; guestPort: number }[];
  hooks?: Record<string, string[]>;
} {
  const fields = publishFields(opts);
  const hooks = createHooks(fields.hooks);
  return {
    ...(fields.publish ? { publish: fields.publish } : {}),
    ...(hooks ? { hooks } : {}),
  };
}
