import type { Readable, Writable } from 'node:stream';

/** The streams (and terminal) a relaying command works on: exec, shell and cp. */
export interface Terminal {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Present when stdin is a terminal. */
  tty?: TerminalControl;
  /** The terminal type a remote terminal should emulate (TERM). */
  term?: string;
}

export interface TerminalControl {
  /** Raw mode on: keystrokes (^C, ^D too) go through as bytes; off restores the terminal. */
  setRawMode(on: boolean): void;
  size(): { cols: number; rows: number };
  /** Calls back on every window size change (SIGWINCH); returns the unsubscribe. */
  onResize(listener: () => void): () => void;
}

/** This process's standard streams; `tty` when stdin is a terminal. */
export function processTerminal(): Terminal {
  const { stdin, stdout, stderr } = process;
  const tty: TerminalControl | undefined = stdin.isTTY
    ? {
        setRawMode: (on) => stdin.setRawMode(on),
        size: () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 }),
        onResize(listener) {
          if (stdout.isTTY) {
            stdout.on('resize', listener);
            return () => stdout.off('resize', listener);
          }
          process.on('SIGWINCH', listener);
          return () => process.off('SIGWINCH', listener);
        },
      }
    : undefined;
  const term = process.env['TERM'];
  return { stdin, stdout, stderr, ...(tty ? { tty } : {}), ...(term ? { term } : {}) };
}
