import { arg, defineCommand } from '../../command.ts';
import { poolPath } from '../../values.ts';
import { poolDetailBlocks } from '../../views/pool-views.ts';

export const poolInfo = defineCommand({
  path: ['pool', 'info'],
  description: "Show a pool's image, resources, role, desired counts and instance statuses",
  args: { path: arg(poolPath, 'the pool') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const pool = await ctx.client().call('getPool', {
      params: { tenant: args.path.tenantId, pool: args.path.poolId },
    });
    return { data: pool, human: poolDetailBlocks(pool) };
  },
});
