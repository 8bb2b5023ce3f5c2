/**
 * The coordinator and the agents as REAL processes, each started with `ip netns exec` in its
 * own namespace through `bin/mvm` (both `ip netns exec` and bin/mvm exec in place, so the pid
 * is the node process itself and SIGKILL hits it directly).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createAgentClient } from '../../../src/cli/agent-client.ts';
import type { AgentClient } from '../../../src/cli/agent-client.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { AbortWait, waitUntil } from '../../../src/drivers/process/wait-until.ts';
import type { SpawnedProcess } from '../../../src/ports/process-runner.ts';
import { runner } from '../../net/support/net-lab.ts';

const MVM = resolve(import.meta.dirname, '../../../bin/mvm');

export interface FleetProcess {
  process: SpawnedProcess;
  logFile: string;
  /** Set once the process has exited (for failure messages). */
  exitCode?: number | null;
}

function spawnIn(
  ns: string,
  args: readonly string[],
  logFile: string,
  env: Readonly<Record<string, string>> = {},
): FleetProcess {
  const child = runner.spawn('ip', ['netns', 'exec', ns, MVM, ...args], {
    logFile,
    // Tenant networking on (inside the node namespace); guests on TCG, never the host's KVM.
    env: { MVM_NETWORK: 'on', MVM_QEMU_ACCEL: 'tcg', ...env },
  });
  const started: FleetProcess = { process: child, logFile };
  void child.exited.then((code) => (started.exitCode = code));
  return started;
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-15).join('\n');
}

/** Stops waiting at once when the process died, with its log's tail as the reason. */
async function failIfExited(started: FleetProcess, what: string): Promise<void> {
  if (started.exitCode === undefined) return;
  const log = await tail(started.logFile);
  throw new AbortWait(new Error(`${what} exited (${String(started.exitCode)}):\n${log}`));
}

export async function startCoordinator(
  ns: string,
  dataDir: string,
  listen: string,
  extra: readonly string[] = [],
): Promise<FleetProcess> {
  const logFile = join(dataDir, 'coordinator.log');
  const before = (await readFile(logFile, 'utf8').catch(() => '')).length;
  const started = spawnIn(
    ns,
    ['--data-dir', dataDir, 'coordinator', 'serve', '--listen', listen, ...extra],
    logFile,
  );
  await waitUntil(
    async () => {
      await failIfExited(started, 'coordinator');
      const text = (await readFile(logFile, 'utf8').catch(() => '')).slice(before);
      return text.includes('mvm coordinator listening') ? true : undefined;
    },
    {
      clock: systemClock,
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `coordinator in ${ns} listening on ${listen}`,
    },
  );
  return started;
}

export interface AgentSettings {
  ns: string;
  node: string;
  dataDir: string;
  coordinatorUrl: string;
  token: string;
  /** More `agent serve` arguments (e.g. `--heartbeat-ms`). */
  extra?: readonly string[];
  /** More environment (e.g. `MVM_FAULT`). */
  env?: Readonly<Record<string, string>>;
}

export interface FleetAgent extends FleetProcess {
  client: AgentClient;
}

export async function startAgent(settings: AgentSettings): Promise<FleetAgent> {
  const { ns, node, dataDir } = settings;
  const global = ['--data-dir', dataDir, '--coordinator', settings.coordinatorUrl];
  const args = [...global, '--token', settings.token, 'agent', 'serve', '--node', node];
  const extra = settings.extra ?? [];
  const log = join(dataDir, 'agent.log');
  const started = spawnIn(ns, [...args, '--vmm', 'qemu', ...extra], log, settings.env);
  const client = createAgentClient(join(dataDir, 'agent.sock'), 60_000);
  await waitUntil(
    async () => {
      await failIfExited(started, `agent ${node}`);
      return client.list().then(() => true);
    },
    {
      clock: systemClock,
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `agent ${node} answering on ${client.socket}`,
    },
  );
  return Object.assign(started, { client });
}

/** SIGKILL and wait for the exit (idempotent). */
export async function killHard(started: FleetProcess | undefined): Promise<void> {
  if (!started || started.exitCode !== undefined) return;
  started.process.kill('SIGKILL');
  await started.process.exited;
}
