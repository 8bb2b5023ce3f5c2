import type { FetchLike } from '../drivers/coordinator-api/api-client.ts';
import type { ReadText } from './config.ts';
import type { Output } from './render.ts';
import type { Terminal } from './terminal.ts';

/** What the CLI sees of its process; tests pass their own (see main.ts). */
export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: Readonly<Record<string, string | undefined>>;
  /** Defaults to the global fetch; tests pass an in-process coordinator's `app.fetch`. */
  fetch?: FetchLike;
  readText?: ReadText;
  cwd?: string;
  defaultConfigFile?: string;
  /** Resolves with a signal name when the CLI should stop a long-running command. */
  untilShutdown?: () => Promise<string>;
  /** Streams for exec, shell and cp; default: this process's stdin, stdout, stderr and tty. */
  terminal?: Terminal;
}
