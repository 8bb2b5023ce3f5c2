import type { InstanceAction } from '../../../contract/requests.ts';
import { arg, defineCommand } from '../../command.ts';
import type { CliCommand } from '../../command.ts';
import { instancePath } from '../../values.ts';
import { instanceFields, instancePathOf } from '../../views/instance-views.ts';

/** The six instance verbs differ only in the action they request. */
export function instanceActionCommand(action: InstanceAction, description: string): CliCommand {
  return defineCommand({
    path: ['instance', action],
    description,
    args: { path: arg(instancePath, 'the instance') },
    options: {},
    output: 'data',
    async handler(ctx, args) {
      const { tenantId, poolId, instanceId } = args.path;
      const instance = await ctx.client().call('instanceAction', {
        params: { tenant: tenantId, pool: poolId, instance: instanceId },
        body: { action },
      });
      const text = `asked instance '${instancePathOf(instance)}' to ${action}: desired ${instance.desiredStatus}, currently ${instance.status}; its node converges on it`;
      return { data: instance, human: [{ kind: 'text', text }, instanceFields(instance)] };
    },
  });
}
