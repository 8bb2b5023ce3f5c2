import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SpawnedProcess } from '../../ports/process-runner.ts';
import type { PhaseTimer } from '../clock/phase-timer.ts';
import { joinCgroups } from '../process/join-cgroups.ts';
import { processStartTime, readPidFile, terminate } from '../process/process-control.ts';
import { FirecrackerApiClient, waitForSocket } from './api-client.ts';
import type { FirecrackerTimeouts, FirecrackerVmmConfig } from './firecracker-config.ts';
import { detectVersion } from './firecracker-version.ts';
import type { FirecrackerVersion } from './firecracker-version.ts';
import { createOwnedFile, ownerOf } from './jail-files.ts';
import type { JailOwner } from './jail-files.ts';
import { metricsRequest, type LogLevel } from './requests.ts';
import type { VmLayout } from './vm-layout.ts';
import { jailerArgs } from './vm-layout.ts';

export interface LaunchedVmm {
  pid: number;
  /** Read once the API answers, to tell this VMM from a later process with its pid. */
  startTime: number | undefined;
  process: SpawnedProcess;
  client: FirecrackerApiClient;
  version: FirecrackerVersion;
}

export interface LaunchInput {
  key: string;
  layout: VmLayout;
  /** Every cgroup directory the VMM joins (one per v1 hierarchy on hybrid hosts). */
  cgroupDirs: readonly string[];
  /** The jail's uid/gid (the instance's own); jailer mode only. */
  owner?: JailOwner;
  /**
   * The version this binary answered at an earlier launch (the driver keeps it while the
   * binary's inode, size and mtime stay): saves the GET / round trip per launch.
   */
  knownVersion?: FirecrackerVersion;
  /** Marks `files`, `spawn`, `socket`, `pid`, `version` and `logger` (a restore logs them). */
  timer?: PhaseTimer;
}

/**
 * Spawns Firecracker (through the jailer when configured) inside its cgroups, waits for its
 * API and configures logger and metrics, the only resources allowed before either
 * boot configuration or snapshot load. The chroot must already hold the staged files.
 */
export async function launchVmm(
  config: FirecrackerVmmConfig,
  timeouts: FirecrackerTimeouts,
  input: LaunchInput,
): Promise<LaunchedVmm> {
  const { layout } = input;
  await prepareFiles(layout, input.owner);
  input.timer?.mark('files');
  const [command, args] = commandFor(config, input);
  const child = config.runner.spawn(command, args, {
    detached: true,
    logFile: layout.stdoutLog,
    // Held at a shell gate only to join cgroups before it runs; with none, the gate's extra
    // exec (~2 ms) buys nothing.
    held: input.cgroupDirs.length > 0,
  });
  // In its cgroups before the jailer (and Firecracker after it) runs: all its memory counts.
  await joinCgroups(child, input.cgroupDirs);
  input.timer?.mark('spawn');
  try {
    return await connect(config, timeouts, input, child);
  } catch (error) {
    await terminate(child.pid, { clock: config.clock, termTimeoutMs: 500, killTimeoutMs: 2_000 });
    throw error;
  }
}

async function connect(
  config: FirecrackerVmmConfig,
  timeouts: FirecrackerTimeouts,
  input: LaunchInput,
  child: SpawnedProcess,
): Promise<LaunchedVmm> {
  const { layout } = input;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  await waitForSocket(layout.apiSocket.host, {
    clock: config.clock,
    timeoutMs: timeouts.apiSocketMs,
    abandon: () =>
      exitCode === undefined
        ? undefined
        : `the process exited with ${exitCode ?? 'a signal'}; see ${layout.stdoutLog}`,
  });
  input.timer?.mark('socket');
  const client = new FirecrackerApiClient(layout.apiSocket.host, timeouts.apiRequestMs);
  // The logger came with the command line; metrics have no flag before 1.x: one request,
  // sent while the pid's start time is read.
  const metrics = metricsRequest(layout.metrics.vmm);
  const [pid] = await Promise.all([
    vmmPid(config, layout, child).then(async (id) => [id, await processStartTime(id)] as const),
    client.call(metrics.method, metrics.path, metrics.body),
  ]);
  input.timer?.mark('pid and metrics');
  const version = input.knownVersion ?? (await detectVersion(client));
  input.timer?.mark('version');
  return { pid: pid[0], startTime: pid[1], process: child, client, version };
}

/**
 * The logger on Firecracker's command line (`--log-path`, `--level`, `--show-level`, there
 * since before 1.0): the same settings as `PUT /logger`, one API round trip fewer per launch.
 * The log file must exist (prepareFiles makes it).
 */
export function loggerArgs(logPathInVmm: string, level: LogLevel): string[] {
  return ['--log-path', logPathInVmm, '--level', level, '--show-level'];
}

function commandFor(config: FirecrackerVmmConfig, input: LaunchInput): [string, string[]] {
  const { layout, key } = input;
  const logger = loggerArgs(layout.log.vmm, config.logLevel ?? 'Info');
  if (config.jailer) {
    const owner = input.owner ?? ownerOf(config.jailer);
    return [
      config.jailer.jailerBin,
      [
        ...jailerArgs(config.jailer, config.firecrackerBin, key, layout.apiSocket.vmm, owner),
        ...logger,
      ],
    ];
  }
  return [config.firecrackerBin, ['--api-sock', layout.apiSocket.vmm, '--id', key, ...logger]];
}

async function prepareFiles(layout: VmLayout, owner: JailOwner | undefined): Promise<void> {
  await mkdir(layout.workDir, { recursive: true });
  // Leftovers of a previous process would make Firecracker fail to bind.
  await rm(layout.apiSocket.host, { force: true });
  await rm(layout.vsock.host, { force: true });
  await createOwnedFile(layout.log.host, owner);
  await createOwnedFile(layout.metrics.host, owner);
}

async function vmmPid(
  config: FirecrackerVmmConfig,
  layout: VmLayout,
  child: SpawnedProcess,
): Promise<number> {
  if (!config.jailer || layout.jailRoot === undefined) return child.pid;
  // Jailer 1.7+ forks before exec and writes the Firecracker pid into the chroot.
  const pidFile = join(layout.jailRoot, `${basename(config.firecrackerBin)}.pid`);
  return (await readPidFile(pidFile)) ?? child.pid;
}
