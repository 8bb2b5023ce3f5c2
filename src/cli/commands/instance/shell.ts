import { arg, defineCommand, option } from '../../command.ts';
import type { CliCommand } from '../../command.ts';
import { runTerminal } from '../../session/run-terminal.ts';
import { instancePath, text } from '../../values.ts';
import { guestPath } from './session-values.ts';

const SHELL =
  "An interactive shell in an instance: a terminal running the image's /bin/sh, raw mode here, window resizes passed on. A warm or sleeping instance is woken first, through the coordinator";

function shellCommand(verb: 'shell' | 'ssh', description: string): CliCommand {
  return defineCommand({
    path: ['instance', verb],
    description,
    args: { path: arg(instancePath, 'the instance') },
    options: {
      cwd: option(guestPath, 'the working directory in the guest'),
      user: option(text('<user>'), "log in as this user of the image: a name, a uid or 'uid:gid'"),
    },
    output: 'text',
    async handler(ctx, args, opts) {
      const exit = await runTerminal(ctx, args.path, {
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
        ...(opts.user !== undefined ? { user: opts.user } : {}),
      });
      return { data: exit, human: [], exitCode: exit.code };
    },
  });
}

export const instanceShell = shellCommand('shell', SHELL);

/** Seeds and habits say `ssh`; mvm runs no SSH server anywhere, the shell is the same path. */
export const instanceSsh = shellCommand(
  'ssh',
  "Same as 'mvm instance shell': mvm has no SSH (no server, no keys); the shell goes through the coordinator",
);
