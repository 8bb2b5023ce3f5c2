import type { InstanceAction } from '../../../contract/requests.ts';
import { arg, defineCommand, flag } from '../../command.ts';
import type { CliCommand } from '../../command.ts';
import { instancePath } from '../../values.ts';
import { instanceFields, instancePathOf } from '../../views/instance-views.ts';

/** The six instance verbs differ only in the action they request (and sleep's --force). */
export function instanceActionCommand(
  action: InstanceAction,
  description: string,
  extra: { force?: string } = {},
): CliCommand {
  return defineCommand({
    path: ['instance', action],
    description,
    args: { path: arg(instancePath, 'the instance') },
    options: extra.force === undefined ? {} : { force: flag(extra.force) },
    output: 'data',
    async handler(ctx, args, opts: { force?: boolean | undefined }) {
      const { tenantId, poolId, instanceId } = args.path;
      const instance = await ctx.client().call('instanceAction', {
        params: { tenant: tenantId, pool: poolId, instance: instanceId },
        body: { action, ...(opts.force === true ? { force: true } : {}) },
      });
      const forced = opts.force === true ? ' (forced)' : '';
      const text = `asked instance '${instancePathOf(instance)}' to ${action}${forced}: desired ${instance.desiredStatus}, currently ${instance.status}; its node converges on it`;
      return { data: instance, human: [{ kind: 'text', text }, instanceFields(instance)] };
    },
  });
}
