import { MAX_LOG_TAIL } from '../../../contract/exec.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import { startSession } from '../../session/start-session.ts';
import { instancePath, integer } from '../../values.ts';

export const instanceLogs = defineCommand({
  path: ['instance', 'logs'],
  description:
    "An instance's serial console, from its node through the coordinator: the last lines, and with --follow what it writes next, until ^C. A sleeping instance is not woken; 'mvm agent instance logs' reads this host's agent without the coordinator",
  args: { path: arg(instancePath, 'the instance') },
  options: {
    tail: option(integer(0, MAX_LOG_TAIL), 'how many of the last lines (default 100)'),
    follow: flag('keep printing what the console gets, until ^C'),
  },
  output: 'text',
  async handler(ctx, args, opts) {
    const terminal = ctx.terminal();
    const session = await startSession(
      ctx,
      args.path,
      { kind: 'logs', tail: opts.tail ?? 100, follow: opts.follow ?? false },
      { stdout: terminal.stdout, stderr: terminal.stderr },
    );
    // ^C ends a follow: the console is the node's, nothing runs that needs a signal.
    void ctx.untilShutdown().then(() => session.close());
    const exit = await session.exit.catch((error: unknown) => {
      if (opts.follow && session.closedHere) return { code: 0 };
      throw error;
    });
    return { data: exit, human: [], exitCode: exit.code };
  },
});
