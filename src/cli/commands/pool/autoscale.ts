import { ValidationError } from '../../../core/errors.ts';
import { QUEUE_SHRINK_AFTER_SECS } from '../../../core/jobs/queue-shrink.ts';
import { MAX_SHRINK_AFTER_SECS } from '../../../core/jobs/queue-wake.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import { integer, poolPath } from '../../values.ts';

export const poolAutoscale = defineCommand({
  path: ['pool', 'autoscale'],
  description:
    "Drive a worker pool by its job queue: a submitted job wakes its sleeping workers and resumes warm ones at once, and adds workers up to --max when they are not enough; the pool's idle times lower them again",
  args: { path: arg(poolPath, 'the pool') },
  options: {
    queue: flag('scale by the job queue (the only autoscaler so far)'),
    off: flag('stop driving the pool by its queue'),
    min: option(integer(), 'workers kept awake even with no jobs (default 0)'),
    max: option(integer(), 'most workers the queue keeps awake'),
    shrinkAfter: option(
      integer(0, MAX_SHRINK_AFTER_SECS),
      'seconds the queue must stay empty before the workers it added go again (0 to 86400; default 600)',
    ),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const params = { tenant: args.path.tenantId, pool: args.path.poolId };
    const ref = `${args.path.tenantId}/${args.path.poolId}`;
    if (opts.off === true) {
      const pool = await ctx.client().call('autoscalePool', { params, body: { queue: false } });
      return {
        data: pool,
        human: [{ kind: 'text', text: `pool '${ref}' is no longer queue-driven` }],
      };
    }
    if (opts.queue !== true || opts.max === undefined) {
      const problem =
        "pass --queue and --max N (and --min N), or --off; e.g. 'mvm pool autoscale acme/ci --queue --min 0 --max 4'";
      throw new ValidationError(problem, [problem]);
    }
    const shrinkAfter = opts.shrinkAfter;
    const body = {
      queue: true as const,
      min: opts.min ?? 0,
      max: opts.max,
      ...(shrinkAfter === undefined ? {} : { shrinkAfterSecs: shrinkAfter }),
    };
    const pool = await ctx.client().call('autoscalePool', { params, body });
    const after = pool.queueScale?.shrinkAfterSecs ?? QUEUE_SHRINK_AFTER_SECS;
    const text = `pool '${ref}' is queue-driven: ${body.min} to ${body.max} workers awake; idle ones go warm after ${pool.idleWarmAfterSecs} s and sleep after ${pool.idleSleepAfterSecs} s (0: off); workers the queue added go after ${after} s of empty queue`;
    return { data: pool, human: [{ kind: 'text', text }] };
  },
});
