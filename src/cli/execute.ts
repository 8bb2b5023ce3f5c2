import { loadAgentConfig } from '../agent/agent-config.ts';
import type { AgentConfig, AgentFlags } from '../agent/agent-config.ts';
import { createHttpsFetch } from '../agent/join/https-fetch.ts';
import { createApiClient } from '../drivers/coordinator-api/api-client.ts';
import type { ApiClient } from '../drivers/coordinator-api/api-client.ts';
import type { CliIo } from './cli-io.ts';
import type { CommandContext } from './command.ts';
import { loadCommand } from './command-catalog.ts';
import { allCommands } from './commands/index.ts';
import { loadConfig } from './config.ts';
import type { Config, ConfigFlags } from './config.ts';
import type { RawInvocation } from './program.ts';
import { renderHuman, renderJson } from './render.ts';
import { processTerminal } from './terminal.ts';

/**
 * Running one parsed command: its context (layered config, API client, shutdown signal) and
 * the printer. Loaded by main only once a command runs, so help and version never pay for
 * config parsing, the API contract or the command modules.
 */
export async function execute(io: CliIo, invocation: RawInvocation): Promise<number> {
  const command = await loadCommand(invocation.command);
  const json = command.output === 'data' && invocation.options['json'] === true;
  const context = makeContext(io, invocation.globals, json);
  const result = await command.run(context, invocation.args, invocation.options);
  const text = json ? renderJson(result.data) : renderHuman(result.human);
  if (text !== '') io.stdout.write(text);
  return result.exitCode ?? 0;
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
    terminal: () => io.terminal ?? processTerminal(),
    // With --json, stdout carries exactly the JSON document; progress goes to stderr.
    print: (line) => (json ? io.stderr : io.stdout).write(`${line}\n`),
  };
  return context;
}

function definedOnly<T extends object>(flags: T): T {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as T;
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
