/**
 * The host agent as a process: `node --import tsx src/agent/main.ts [--data-dir DIR]
 * [--config FILE]`, the rest from env and the config file (see DEVELOPERS.md). It serves until
 * SIGINT/SIGTERM; VMs keep running and a restart adopts them. `mvm agent serve` is the same
 * agent with every flag; both start it through startAgent (start-agent.ts).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage, ValidationError } from '../core/errors.ts';
import { loadAgentConfig } from './agent-config.ts';
import type { AgentFlags } from './agent-config.ts';
import { startAgent } from './start-agent.ts';

function flagsFromArgv(argv: readonly string[]): AgentFlags {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const dataDir = value('--data-dir');
  const config = value('--config');
  return {
    ...(dataDir !== undefined ? { dataDir } : {}),
    ...(config !== undefined ? { config } : {}),
  };
}

function untilSignal(): Promise<string> {
  return new Promise((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
}

async function runMain(): Promise<void> {
  const config = loadAgentConfig({ flags: flagsFromArgv(process.argv.slice(2)), env: process.env });
  const agent = await startAgent(config);
  process.stdout.write(`mvm agent listening on ${agent.socket ?? config.socket}\n`);
  const signal = await untilSignal();
  agent.deps.logger.info({ signal }, 'agent stopping; VMs keep running');
  await agent.close();
}

function failureText(error: unknown): string {
  const message = errorMessage(error);
  const problems = error instanceof ValidationError ? error.problems : [];
  return [`mvm agent failed: ${message}`, ...problems.map((p) => `  - ${p}`)].join('\n');
}

const invoked = process.argv[1] ? pathToFileURL(resolve(process.argv[1])).href : '';
if (import.meta.url === invoked) {
  runMain().catch((error: unknown) => {
    process.stderr.write(`${failureText(error)}\n`);
    process.exitCode = 1;
  });
}
