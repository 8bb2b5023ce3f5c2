/**
 * `mvm agent instance stats` and `mvm agent instance logs`: live facts from the agent on this
 * machine, without the coordinator (its views are `mvm instance stats` and `mvm instance
 * logs`, which reaches the workload's output and the console through the node's tunnel).
 */
import { arg, defineCommand, flag, option } from '../../command.ts';
import type { CommandContext, CommandResult } from '../../command.ts';
import type { LocalRef } from '../../agent-client.ts';
import { instancePath, integer } from '../../values.ts';
import { localAgent, localStatsFields } from '../agent/local-agent.ts';

export const agentInstanceStats = defineCommand({
  path: ['agent', 'instance', 'stats'],
  description:
    'Live stats of an instance on this host: VMM pid and state, cgroup, guest uptime/counter, workload (local agent)',
  args: { path: arg(instancePath, 'the instance') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const stats = await localAgent(ctx).stats(args.path);
    return { data: stats, human: localStatsFields(stats) };
  },
});

const logOptions = {
  tail: option(integer(1, 10_000), 'how many lines from the end (default 100)'),
  follow: flag('keep printing what the workload writes, until interrupted'),
  console: flag("the instance's serial console instead of its workload"),
  lines: option(integer(1, 10_000), 'with --console: how many lines (default 100)'),
};
const POLL_MS = 1_000;

type LogOptions = { tail?: number; follow?: boolean; console?: boolean; lines?: number };

/**
 * The workload's output (the image's process: stdout and stderr, and the service's own
 * `[mvm]` lines), or with --console the serial console.
 */
async function showLogs(
  ctx: CommandContext,
  path: LocalRef,
  opts: LogOptions,
): Promise<CommandResult> {
  const agent = localAgent(ctx);
  if (opts.console) {
    const logs = await agent.logs(path, opts.lines ?? opts.tail ?? 100);
    const text = logs.lines.length > 0 ? logs.lines.join('\n') : '(the console log is empty)';
    return { data: logs, human: [{ kind: 'text', text }] };
  }
  const view = await agent.workloadLogs(path, { tail: opts.tail ?? 100 });
  if (!opts.follow) {
    const text =
      view.text === '' ? '(the workload has written nothing)' : view.text.replace(/\n$/, '');
    return { data: view, human: [{ kind: 'text', text }] };
  }
  const printer = lineBuffer((line) => ctx.print(line));
  printer.add(view.text);
  let end = view.end;
  const stop = ctx.untilShutdown();
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    await Promise.race([stop, new Promise((resolve) => setTimeout(resolve, POLL_MS))]);
    if (stopped) break;
    const next = await agent.workloadLogs(path, { from: end });
    if (next.start > end)
      ctx.print(`[mvm] ${next.start - end} bytes of the log rotated away unread`);
    printer.add(next.text);
    end = next.end;
  }
  printer.flush();
  return { data: { ...view, end }, human: [] };
}

/** Prints whole lines as they complete; a partial last line waits for its end. */
function lineBuffer(print: (line: string) => void): { add(text: string): void; flush(): void } {
  let pending = '';
  return {
    add(text) {
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) print(line);
    },
    flush() {
      if (pending !== '') print(pending);
      pending = '';
    },
  };
}

export const agentInstanceLogs = defineCommand({
  path: ['agent', 'instance', 'logs'],
  description:
    "An instance's workload output (the image's process) on this host, --follow to keep printing (local agent)",
  args: { path: arg(instancePath, 'the instance') },
  options: logOptions,
  output: 'data',
  handler: (ctx, args, opts) => showLogs(ctx, args.path, opts),
});
