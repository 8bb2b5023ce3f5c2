import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CommanderError } from 'commander';
import { isMvmError, ValidationError } from '../core/errors.ts';
import type { CliIo } from './cli-io.ts';
import { loadCatalog } from './command-catalog.ts';
import { groupDescriptions } from './commands/groups.ts';
import { EXIT_OK, EXIT_USAGE, exitCodeOf } from './exit-codes.ts';
import { buildProgram } from './program.ts';
import { renderError } from './render.ts';

export type { CliIo } from './cli-io.ts';

function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

function commanderExit(error: CommanderError, io: CliIo, json: boolean): number {
  if (error.exitCode === 0) return EXIT_OK;
  // Help already printed to stderr (a group named without a verb): nothing more to say.
  if (error.code === 'commander.help') return EXIT_USAGE;
  const [first = '', ...rest] = error.message.replace(/^error: /, '').split('\n');
  const suggestion = rest
    .join(' ')
    .replace(/^\((.*)\)$/, '$1')
    .replace(/^Did/, 'did');
  const message = [first, suggestion, "see 'mvm --help'"].filter((part) => part !== '').join('; ');
  io.stderr.write(renderError(new ValidationError(message), json));
  return EXIT_USAGE;
}

/**
 * The CLI's composition root. `runCli` is the whole CLI as a function of its inputs, so tests
 * run it in-process; only the entry at the bottom touches the real process. Start-up loads only
 * what parsing and help need; a command's context and module load when it runs (execute.ts).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const json = wantsJson(argv);
  let exitCode = EXIT_OK;
  const program = buildProgram({
    commands: await loadCatalog(),
    groups: groupDescriptions,
    stdout: io.stdout,
    stderr: io.stderr,
    execute: async (invocation) => {
      exitCode = await (await import('./execute.ts')).execute(io, invocation);
    },
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, io, json);
    io.stderr.write(renderError(error, json));
    if (!isMvmError(error) && io.env['MVM_DEBUG'] && error instanceof Error)
      io.stderr.write(`${error.stack ?? ''}\n`);
    return isMvmError(error) ? exitCodeOf[error.code] : exitCodeOf.internal;
  }
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

async function main(): Promise<void> {
  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  });
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
