import { arg, defineCommand } from '../../command.ts';
import { instancePath } from '../../values.ts';
import { instanceStatsFields } from '../../views/report-views.ts';

export const instanceStats = defineCommand({
  path: ['instance', 'stats'],
  description:
    "Show an instance's status, node, VMM pid, IP, MAC, tap, uptime, last activity, CPU, memory and disk (its node's last heartbeat)",
  args: { path: arg(instancePath, 'the instance') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const { tenantId, poolId, instanceId } = args.path;
    const stats = await ctx.client().call('getInstanceStats', {
      params: { tenant: tenantId, pool: poolId, instance: instanceId },
    });
    return { data: stats, human: [instanceStatsFields(stats, new Date())] };
  },
});
