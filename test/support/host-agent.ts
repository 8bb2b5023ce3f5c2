/**
 * The real mvm-agent binary (compiled as the image builder compiles it) run on the host: it
 * is static and needs no guest, so protocol tests reach it over a unix socket in milliseconds.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGuestAgent } from '../../src/drivers/dev-image/guest-agent-binary.ts';
import { DEFAULT_CACHE_DIR } from '../../src/drivers/dev-image/cache-dir.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { until } from './until.ts';

export interface HostAgent {
  binary: string;
  socket: string;
  stateDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function agentBinary(): Promise<string> {
  return (await ensureGuestAgent(DEFAULT_CACHE_DIR, new NodeProcessRunner())).path;
}

/** `env`: more of the agent's environment (MVM_RUN_SPEC for a workload's run spec). */
export async function startHostAgent(env: Record<string, string> = {}): Promise<HostAgent> {
  const binary = await agentBinary();
  const dir = await mkdtemp(join(tmpdir(), 'mvm-ha-'));
  const socket = join(dir, 'agent.sock');
  const stateDir = join(dir, 'state');
  const child = spawn(binary, ['serve', '--unix', socket], {
    env: { MVM_STATE_DIR: stateDir, PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await until(
    'the host agent socket',
    () =>
      stat(socket).then(
        () => true,
        () => undefined,
      ),
    5_000,
    20,
  );
  return {
    binary,
    socket,
    stateDir,
    process: child,
    async stop() {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether process `pid` still exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
