import { ValidationError } from '../../../core/errors.ts';
import { arg, defineCommand, option } from '../../command.ts';
import { integer, poolPath } from '../../values.ts';
import { instanceTable } from '../../views/instance-views.ts';
import { countsText } from '../../views/pool-views.ts';

export const poolScale = defineCommand({
  path: ['pool', 'scale'],
  description: 'Set how many instances of a pool should be running, warm and sleeping',
  args: { path: arg(poolPath, 'the pool') },
  options: {
    running: option(integer(), 'instances to keep running'),
    warm: option(integer(), 'instances to keep warm (paused, memory kept)'),
    sleeping: option(integer(), 'instances to keep sleeping (snapshotted, memory freed)'),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const counts = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    if (Object.keys(counts).length === 0) {
      const problem = 'nothing to change; pass at least one of --running, --warm, --sleeping';
      throw new ValidationError(problem, [problem]);
    }
    const result = await ctx.client().call('scalePool', {
      params: { tenant: args.path.tenantId, pool: args.path.poolId },
      body: counts,
    });
    const ref = `${result.pool.tenantId}/${result.pool.id}`;
    const summary = `pool '${ref}' now wants ${countsText(result.pool)} (${result.created.length} instance(s) created, ${result.changed.length} changed)`;
    const touched = [...result.created, ...result.changed];
    return {
      data: result,
      human: [
        { kind: 'text', text: summary },
        ...(touched.length === 0 ? [] : [instanceTable(touched)]),
      ],
    };
  },
});
