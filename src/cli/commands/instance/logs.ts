import { MAX_LOG_TAIL } from '../../../contract/exec.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import { startSession } from '../../session/start-session.ts';
import { instancePath, integer } from '../../values.ts';

export const instanceLogs = defineCommand({
  path: ['instance', 'logs'],
  description:
    "An instance's workload output (the image's process), or with --console its serial console, through the coordinator from its node: the last lines, and with --follow what comes next, until ^C. For the workload a warm or sleeping instance is woken first; the console is read without waking it. 'mvm agent instance logs' reads this host's agent without the coordinator",
  args: { path: arg(instancePath, 'the instance') },
  options: {
    tail: option(integer(0, MAX_LOG_TAIL), 'how many of the last lines (default 100)'),
    follow: flag('keep printing what comes next, until ^C'),
    console: flag("the instance's serial console instead of its workload's output"),
  },
  output: 'text',
  async handler(ctx, args, opts) {
    const terminal = ctx.terminal();
    const session = await startSession(
      ctx,
      args.path,
      {
        kind: 'logs',
        tail: opts.tail ?? 100,
        follow: opts.follow ?? false,
        console: opts.console ?? false,
      },
      { stdout: terminal.stdout, stderr: terminal.stderr },
    );
    // ^C ends a follow: nothing runs in the guest that needs a signal.
    void ctx.untilShutdown().then(() => session.close());
    const exit = await session.exit.catch((error: unknown) => {
      if (opts.follow && session.closedHere) return { code: 0 };
      throw error;
    });
    return { data: exit, human: [], exitCode: exit.code };
  },
});
