import { arg, defineCommand, flag } from '../../command.ts';
import { poolPath } from '../../values.ts';
import { destroyedText } from '../destroyed-text.ts';

export const poolDestroy = defineCommand({
  path: ['pool', 'destroy'],
  description: 'Destroy a pool; refused while it has instances unless --force',
  args: { path: arg(poolPath, 'the pool') },
  options: { force: flag('also destroy every instance of the pool') },
  output: 'data',
  async handler(ctx, args, opts) {
    const { tenantId, poolId } = args.path;
    const result = await ctx.client().call('destroyPool', {
      params: { tenant: tenantId, pool: poolId },
      query: opts.force ? { force: 'true' } : {},
    });
    return {
      data: result,
      human: [
        {
          kind: 'text',
          text: destroyedText(`pool '${tenantId}/${poolId}'`, result.destroyed, false),
        },
      ],
    };
  },
});
