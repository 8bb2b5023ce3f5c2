/**
 * `mvm agent instance stats` and `mvm agent instance logs`: live facts from the agent on this
 * machine, without the coordinator (its views are `mvm instance stats` and
 * `mvm instance logs`, which reaches the console through the node's tunnel).
 */
import { arg, defineCommand, option } from '../../command.ts';
import { instancePath, integer } from '../../values.ts';
import { localAgent, localStatsFields } from '../agent/local-agent.ts';

export const agentInstanceStats = defineCommand({
  path: ['agent', 'instance', 'stats'],
  description:
    'Live stats of an instance on this host: VMM pid and state, cgroup, guest uptime/counter (local agent)',
  args: { path: arg(instancePath, 'the instance') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const stats = await localAgent(ctx).stats(args.path);
    return { data: stats, human: localStatsFields(stats) };
  },
});

export const agentInstanceLogs = defineCommand({
  path: ['agent', 'instance', 'logs'],
  description: "The tail of an instance's serial console on this host (local agent)",
  args: { path: arg(instancePath, 'the instance') },
  options: { lines: option(integer(1, 10_000), 'how many lines (default 100)') },
  output: 'data',
  async handler(ctx, args, opts) {
    const logs = await localAgent(ctx).logs(args.path, opts.lines ?? 100);
    const text = logs.lines.length > 0 ? logs.lines.join('\n') : '(the console log is empty)';
    return { data: logs, human: [{ kind: 'text', text }] };
  },
});
