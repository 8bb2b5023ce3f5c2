import { arg, defineCommand } from '../../command.ts';
import { instancePath } from '../../values.ts';
import { instanceFields } from '../../views/instance-views.ts';

export const instanceInfo = defineCommand({
  path: ['instance', 'info'],
  description: "Show an instance's status, addresses, node and revision",
  args: { path: arg(instancePath, 'the instance') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const { tenantId, poolId, instanceId } = args.path;
    const instance = await ctx.client().call('getInstance', {
      params: { tenant: tenantId, pool: poolId, instance: instanceId },
    });
    return { data: instance, human: [instanceFields(instance)] };
  },
});
