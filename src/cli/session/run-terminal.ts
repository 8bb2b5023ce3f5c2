import type { SessionExit } from '../../contract/exec.ts';
import type { InstanceRef } from '../../core/ids.ts';
import type { CommandContext } from '../command.ts';
import { startSession } from './start-session.ts';

export interface TerminalCommand {
  argv?: string[];
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
}

/**
 * An interactive terminal in the instance: a pty there, raw mode here when stdin is a
 * terminal (restored however the session ends), window size changes passed on.
 */
export async function runTerminal(
  ctx: CommandContext,
  ref: InstanceRef,
  command: TerminalCommand,
): Promise<SessionExit> {
  const terminal = ctx.terminal();
  const { tty } = terminal;
  const { cols, rows } = tty?.size() ?? { cols: 80, rows: 24 };
  const session = await startSession(
    ctx,
    ref,
    {
      kind: 'pty',
      ...command,
      env: { TERM: terminal.term ?? 'xterm', ...command.env },
      cols,
      rows,
    },
    { stdout: terminal.stdout, stderr: terminal.stderr, stdin: terminal.stdin },
  );
  void ctx.untilShutdown().then(() => session.close());
  await session.started;
  tty?.setRawMode(true);
  const unsubscribe = tty?.onResize(() => {
    const size = tty.size();
    session.resize(size.cols, size.rows);
  });
  try {
    return await session.exit;
  } finally {
    unsubscribe?.();
    tty?.setRawMode(false);
  }
}
