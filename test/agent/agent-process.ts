/**
 * The agent as a REAL separate process (what kill -9 must not hurt): started through
 * `node --import tsx src/agent/main.ts` or through `bin/mvm agent serve`, and the CLI run as
 * a child process too, exactly as an operator would.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createAgentClient } from '../../src/cli/agent-client.ts';
import type { AgentClient } from '../../src/cli/agent-client.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { testRunner } from '../support/qemu-guest.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX_LOADER = `file://${join(ROOT, 'node_modules/tsx/dist/loader.mjs')}`;
const MVM = join(ROOT, 'bin/mvm');

/** No coordinator here: the CLI must fall back to the agent's stored spec. */
export const cliEnv = (dataDir: string): Record<string, string> => ({
  ...(process.env as Record<string, string>),
  MVM_DATA_DIR: dataDir,
  MVM_COORDINATOR_URL: 'http://127.0.0.1:9',
  // These specs carry no tenant network; never touch the root namespace's links from tests.
  MVM_NETWORK: 'off',
});

export interface AgentProcess {
  child: ChildProcess;
  client: AgentClient;
}

export async function startAgentProcess(
  dataDir: string,
  via: 'main' | 'cli',
): Promise<AgentProcess> {
  const log = openSync(join(dataDir, `agent-${via}.log`), 'a');
  const args =
    via === 'main'
      ? ['--import', TSX_LOADER, join(ROOT, 'src/agent/main.ts'), '--data-dir', dataDir]
      : [MVM, 'agent', 'serve'];
  const command = via === 'main' ? process.execPath : MVM;
  const child = spawn(command, via === 'main' ? args : args.slice(1), {
    env: cliEnv(dataDir),
    stdio: ['ignore', log, log],
  });
  const client = createAgentClient(join(dataDir, 'agent.sock'), 120_000);
  await waitUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}`);
      return client.list().then(() => true);
    },
    { clock: systemClock, timeoutMs: 60_000, intervalMs: 100, what: `agent on ${client.socket}` },
  );
  return { child, client };
}

export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
}

/** `bin/mvm <args> --json` as a child process; parsed stdout. */
export async function mvmJson(dataDir: string, args: readonly string[]): Promise<unknown> {
  const out = await testRunner.run(MVM, [...args, '--json'], { env: cliEnv(dataDir) });
  return JSON.parse(out.stdout) as unknown;
}
