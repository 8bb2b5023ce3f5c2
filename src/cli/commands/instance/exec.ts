import type { SessionSignal } from '../../../contract/exec.ts';
import { defineCommand, flag, option, repeatableOption, arg, variadicArg } from '../../command.ts';
import type { CommandContext } from '../../command.ts';
import { runTerminal } from '../../session/run-terminal.ts';
import { startSession } from '../../session/start-session.ts';
import type { ClientSession } from '../../../drivers/exec-tunnel/client-session.ts';
import { instancePath, integer, text } from '../../values.ts';
import { envOf, envPair, guestPath, word } from './session-values.ts';

export const instanceExec = defineCommand({
  path: ['instance', 'exec'],
  description:
    "Run a command in an instance like 'docker exec' (write it after --): its output streams here, this stdin goes to it, and mvm exits with its status (128+n for signal n, 124 on --timeout). A warm or sleeping instance is woken first, through the coordinator",
  args: {
    path: arg(instancePath, 'the instance'),
    command: variadicArg(word('<command>'), 'the command and its arguments, after --'),
  },
  options: {
    env: repeatableOption(envPair, 'an environment variable for the command'),
    cwd: option(guestPath, 'the working directory in the guest'),
    user: option(text('<user>'), "run as this user of the image: a name, a uid or 'uid:gid'"),
    timeout: option(
      integer(1, 7 * 24 * 3600),
      'seconds until the command is stopped (TERM, then KILL); exit 124',
    ),
    tty: flag('give the command a terminal (as mvm instance shell does); stdin is then raw'),
  },
  output: 'text',
  async handler(ctx, args, opts) {
    const env = envOf(opts.env);
    const command = {
      argv: args.command,
      ...(env ? { env } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.user !== undefined ? { user: opts.user } : {}),
    };
    if (opts.tty) {
      const exit = await runTerminal(ctx, args.path, command);
      return { data: exit, human: [], exitCode: exit.code };
    }
    const terminal = ctx.terminal();
    const session = await startSession(
      ctx,
      args.path,
      {
        kind: 'exec',
        ...command,
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
      },
      { stdout: terminal.stdout, stderr: terminal.stderr, stdin: terminal.stdin },
    );
    forwardSignals(ctx, session);
    const exit = await session.exit;
    return { data: exit, human: [], exitCode: exit.code };
  },
});

/** ^C or a TERM to this process goes to the command's process group, which then exits. */
function forwardSignals(ctx: CommandContext, session: ClientSession): void {
  void ctx.untilShutdown().then((name) => {
    const signal: SessionSignal = name === 'SIGINT' ? 'INT' : name === 'SIGHUP' ? 'HUP' : 'TERM';
    session.signal(signal);
  });
}
