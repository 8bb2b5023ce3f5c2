import { ValidationError } from '../../../core/errors.ts';
import { roles } from '../../../core/model.ts';
import { MAX_SLEEP_POLICY_SECS } from '../../../core/sleep-policy.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import { choice, integer, poolPath, text } from '../../values.ts';
import { poolFields } from '../../views/pool-views.ts';
import { idleFields, idleOptions } from './idle-options.ts';
import { publishFields, publishOptions } from './publish-options.ts';
import { sourceFields, sourceOptions } from './source-options.ts';

export const poolUpdate = defineCommand({
  path: ['pool', 'update'],
  description:
    "Change a pool's flags, minimum times, image source or revision (a role is fixed at creation)",
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
    revision: option(
      text('<id>'),
      "revision to run (from 'mvm pool revisions', or dev): each instance takes it at its next cold boot",
    ),
    ...sourceOptions,
    ...idleOptions,
    ...publishOptions,
    devImage: flag('build from the dev image again (clears --image and --flake)'),
    role: option(
      choice(roles, '<role>'),
      'refused by the coordinator: roles never change; recreate the pool instead',
    ),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const {
      image,
      flake,
      profile,
      devImage,
      idleWarmAfter,
      idleSleepAfter,
      servicePort,
      publish,
      beforeSleep,
      afterWake,
      secretsReload,
      warmUp,
      ...rest
    } = opts;
    const body = {
      ...publishFields({ publish, beforeSleep, afterWake, secretsReload, warmUp }),
      ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
      ...idleFields({ idleWarmAfter, idleSleepAfter, servicePort }),
      ...sourceFields({
        ...(image !== undefined ? { image } : {}),
        ...(flake !== undefined ? { flake } : {}),
        ...(profile !== undefined ? { profile } : {}),
      }),
      ...(devImage ? { devImage: true as const } : {}),
    };
    if (Object.keys(body).length === 0) {
      const problem =
        'nothing to change; pass --pinned/--no-pinned, --critical/--no-critical, --min-running-secs, --min-warm-secs, --idle-warm-after, --idle-sleep-after, --service-port, --publish, --before-sleep, --after-wake, --secrets-reload, --warm-up, --revision, --image, --flake/--profile or --dev-image';
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
