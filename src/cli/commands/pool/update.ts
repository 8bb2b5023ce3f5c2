import { ValidationError } from '../../../core/errors.ts';
import { roles } from '../../../core/model.ts';
import { MAX_SLEEP_POLICY_SECS } from '../../../core/sleep-policy.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import { choice, integer, poolPath, text } from '../../values.ts';
import { poolFields } from '../../views/pool-views.ts';

export const poolUpdate = defineCommand({
  path: ['pool', 'update'],
  description:
    "Change a pool's flags, minimum times or image revision (a role is fixed at creation)",
  args: { path: arg(poolPath, 'the pool') },
  options: {
    pinned: flag('keep instances on their node (--no-pinned to clear)', true),
    critical: flag('never sleep instances automatically (--no-critical to clear)', true),
    minRunningSecs: option(
      integer(0, MAX_SLEEP_POLICY_SECS),
      'seconds an instance stays running before a scale-down may demote it',
    ),
    minWarmSecs: option(
      integer(0, MAX_SLEEP_POLICY_SECS),
      'seconds an instance stays warm before it may go to sleep or stop',
    ),
    revision: option(text('<hash>'), 'image revision the instances should run'),
    role: option(
      choice(roles, '<role>'),
      'refused by the coordinator: roles never change; recreate the pool instead',
    ),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const body = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    if (Object.keys(body).length === 0) {
      const problem =
        'nothing to change; pass --pinned/--no-pinned, --critical/--no-critical, --min-running-secs, --min-warm-secs or --revision';
      throw new ValidationError(problem, [problem]);
    }
    const pool = await ctx.client().call('updatePool', {
      params: { tenant: args.path.tenantId, pool: args.path.poolId },
      body,
    });
    return {
      data: pool,
      human: [
        { kind: 'text', text: `updated pool '${pool.tenantId}/${pool.id}'` },
        poolFields(pool),
      ],
    };
  },
});
