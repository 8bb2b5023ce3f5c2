import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CommanderError } from 'commander';
import { loadAgentConfig } from '../agent/agent-config.ts';
import type { AgentConfig, AgentFlags } from '../agent/agent-config.ts';
import { isMvmError, ValidationError } from '../core/errors.ts';
import { createHttpsFetch } from '../agent/join/https-fetch.ts';
import { createApiClient } from '../drivers/coordinator-api/api-client.ts';
import type { ApiClient, FetchLike } from '../drivers/coordinator-api/api-client.ts';
import type { CommandContext } from './command.ts';
import { allCommands } from './commands/index.ts';
import { groupDescriptions } from './commands/groups.ts';
import { loadConfig } from './config.ts';
import type { Config, ConfigFlags, ReadText } from './config.ts';
import { EXIT_OK, EXIT_USAGE, exitCodeOf } from './exit-codes.ts';
import { buildProgram } from './program.ts';
import type { RawInvocation } from './program.ts';
import { renderError, renderHuman, renderJson } from './render.ts';
import type { Output } from './render.ts';

/**
 * The CLI's composition root. `runCli` is the whole CLI as a function of its inputs, so tests
 * run it in-process; only the entry at the bottom touches the real process.
 */
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
}

function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

function globalFlags(globals: Readonly<Record<string, unknown>>): ConfigFlags {
  const pick = (key: string): string | undefined =>
    typeof globals[key] === 'string' ? globals[key] : undefined;
  const flags = {
    config: pick('config'),
    coordinator: pick('coordinator'),
    token: pick('token'),
    dataDir: pick('dataDir'),
    caFile: pick('caFile'),
  };
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
}

function makeContext(
  io: CliIo,
  globals: Readonly<Record<string, unknown>>,
  json = false,
): CommandContext {
  const load = (extra: ConfigFlags = {}): Config =>
    loadConfig({
      flags: { ...globalFlags(globals), ...extra },
      env: io.env,
      ...(io.readText ? { readText: io.readText } : {}),
      ...(io.cwd ? { cwd: io.cwd } : {}),
      ...(io.defaultConfigFile ? { defaultConfigFile: io.defaultConfigFile } : {}),
    });
  const loadAgent = (extra: AgentFlags = {}): Readonly<AgentConfig> =>
    loadAgentConfig({
      flags: { ...globalFlags(globals), ...definedOnly(extra) },
      env: io.env,
      ...(io.readText ? { readText: io.readText } : {}),
      ...(io.cwd ? { cwd: io.cwd } : {}),
      ...(io.defaultConfigFile ? { defaultConfigFile: io.defaultConfigFile } : {}),
    });
  let config: Config | undefined;
  let client: ApiClient | undefined;
  const context: CommandContext = {
    commands: allCommands,
    config: (extra) => (extra === undefined ? (config ??= load()) : load(definedOnly(extra))),
    agentConfig: (extra) => loadAgent(extra),
    client() {
      const { coordinatorUrl, token, caPem } = context.config();
      const fetch =
        io.fetch ??
        (coordinatorUrl.startsWith('https:') && caPem !== undefined
          ? createHttpsFetch(() => ({ caPem }))
          : undefined);
      client ??= createApiClient({
        baseUrl: coordinatorUrl,
        ...(token ? { token } : {}),
        ...(fetch ? { fetch } : {}),
      });
      return client;
    },
    untilShutdown: io.untilShutdown ?? untilSignal,
    // With --json, stdout carries exactly the JSON document; progress goes to stderr.
    print: (line) => (json ? io.stderr : io.stdout).write(`${line}\n`),
  };
  return context;
}

function definedOnly<T extends object>(flags: T): T {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as T;
}

async function execute(io: CliIo, invocation: RawInvocation): Promise<void> {
  const json = invocation.command.output === 'data' && invocation.options['json'] === true;
  const context = makeContext(io, invocation.globals, json);
  const result = await invocation.command.run(context, invocation.args, invocation.options);
  io.stdout.write(json ? renderJson(result.data) : renderHuman(result.human));
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

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const json = wantsJson(argv);
  const program = buildProgram({
    commands: allCommands,
    groups: groupDescriptions,
    stdout: io.stdout,
    stderr: io.stderr,
    execute: (invocation) => execute(io, invocation),
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, io, json);
    io.stderr.write(renderError(error, json));
    if (!isMvmError(error) && io.env['MVM_DEBUG'] && error instanceof Error)
      io.stderr.write(`${error.stack ?? ''}\n`);
    return isMvmError(error) ? exitCodeOf[error.code] : exitCodeOf.internal;
  }
}

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
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
