import { appendFile, chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, HostError, ValidationError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRunner, SpawnedProcess } from '../../ports/process-runner.ts';
import type { VmHandle, VmSpec } from '../../ports/vmm.ts';
import {
  commandLine,
  isAlive,
  processStartTime,
  readPidFile,
  sendSignal,
} from '../process/process-control.ts';
import type { PhaseTimer } from '../clock/phase-timer.ts';
import { joinCgroups } from '../process/join-cgroups.ts';
import { AbortWait, waitUntil } from '../process/wait-until.ts';
import { qemuArgs, qemuPaths } from './qemu-args.ts';
import type { QemuLaunch, QemuPaths } from './qemu-args.ts';
import { launchCommand } from './qemu-confine.ts';
import type { LaunchConfinement, QemuConfinement } from './qemu-confine.ts';
import { fdLayout, openFds } from './qemu-fds.ts';
import type { FdLayout } from './qemu-fds.ts';
import { logTail } from './qemu-log.ts';
import { SNAPSHOT_FORMAT } from './qemu-snapshot.ts';
import type { SnapshotMeta } from './qemu-snapshot.ts';

const MAX_UNIX_PATH = 107;

export interface QemuLaunchHow extends Pick<
  QemuLaunch,
  'accel' | 'tscKhz' | 'balloon' | 'tcgTbSizeMib'
> {
  /** Restore: the state file QEMU inherits and reads with `migrate-incoming fd:N`. */
  incomingState?: string;
}

export interface QemuLaunchContext {
  binary: string;
  runner: ProcessRunner;
  clock: Clock;
  /** Process start until QMP answers. */
  startMs: number;
  /** Resolves once QMP answers; throws while it does not. */
  qmpAnswers: (vm: VmHandle) => Promise<boolean>;
  confinement: QemuConfinement;
  /** Marks `prepare`, `spawn` and `qmp` (bench/wake-overhead.ts reads them from the log). */
  timer?: PhaseTimer;
}

export interface LaunchedQemu {
  vm: VmHandle;
  /** QEMU's descriptor of the incoming migration stream, on a restore. */
  incomingFd?: number;
}

/**
 * Spawns a paused QEMU for `spec`, its drives (and a restore's state) handed over as
 * descriptors, confined as configured, and waits until its QMP answers; kills it if it never does.
 */
export async function launchQemu(
  context: QemuLaunchContext,
  spec: VmSpec,
  how: QemuLaunchHow,
): Promise<LaunchedQemu> {
  const paths = qemuPaths(spec.workDir);
  assertSocketPaths([paths.qmpSocket, paths.agentSocket, paths.migrateSocket]);
  await mkdir(spec.workDir, { recursive: true });
  await assertNotRunning(spec, paths);
  await Promise.all([paths.qmpSocket, paths.agentSocket].map((p) => rm(p, { force: true })));
  const confine = await prepareConfinement(context.confinement, spec, paths);
  // Confined (the helper is only built then), the taps come attached, as descriptors.
  const tapsAsFds = context.confinement.tapfd !== undefined;
  const fds = fdLayout(spec, how.incomingState, tapsAsFds);
  const incoming = how.incomingState !== undefined;
  const args = qemuArgs({ spec, paths, fds, confine, paused: true, ...how, incoming });
  const taps = { byName: spec.nets.length > 0 && !tapsAsFds, fds: fds.tapFds ?? [] };
  const [command, argv] = launchCommand(context.binary, args, context.confinement, confine, taps);
  await appendFile(
    paths.processLog,
    `--- ${new Date().toISOString()} ${command} ${argv.join(' ')}\n`,
  );
  context.timer?.mark('prepare');
  const held = (spec.cgroupDirs ?? []).length > 0;
  const child = await spawnWithFds(context.runner, command, argv, fds, paths.processLog, held);
  // In its cgroups before QEMU itself runs: all its memory, a woken guest's RAM included, is
  // charged to its own limit.
  await joinCgroups(child, spec.cgroupDirs ?? []);
  await writeFile(join(spec.workDir, 'launch.json'), `${JSON.stringify(launchMeta(spec, how))}\n`);
  const vm: VmHandle = {
    key: spec.key,
    driver: 'qemu',
    pid: child.pid,
    pidStartTime: await processStartTime(child.pid),
    controlSocket: paths.qmpSocket,
    guestSocket: paths.agentSocket,
    workDir: spec.workDir,
    ...(confine.runAs ? { runAs: confine.runAs } : {}),
  };
  context.timer?.mark('spawn');
  await waitForQmp(context, vm, child, paths.processLog).catch((error: unknown) => {
    sendSignal(child.pid, 'SIGKILL');
    throw error;
  });
  context.timer?.mark('qmp');
  return { vm, ...(fds.incomingFd === undefined ? {} : { incomingFd: fds.incomingFd }) };
}

/**
 * Spawned held when it has cgroups to join first (see joinCgroups; without any, the gate's
 * extra exec buys nothing); the driver's copies of the descriptors close at once.
 */
async function spawnWithFds(
  runner: ProcessRunner,
  command: string,
  args: string[],
  layout: FdLayout,
  logFile: string,
  held: boolean,
): Promise<SpawnedProcess> {
  const opened = await openFds(layout);
  try {
    return runner.spawn(command, args, { detached: true, logFile, fds: opened.fds, held });
  } finally {
    await opened.close();
  }
}

/**
 * What this launch applies. Dropping privileges needs the instance's own identity: a driver
 * configured to confine refuses to run a VM as root rather than silently unconfined.
 */
async function prepareConfinement(
  confinement: QemuConfinement,
  spec: VmSpec,
  paths: QemuPaths,
): Promise<LaunchConfinement> {
  if (!confinement.dropPrivileges) return { seccomp: confinement.seccomp };
  const runAs = spec.runAs;
  if (runAs === undefined || runAs.uid === 0 || runAs.gid === 0) {
    throw new ValidationError(
      `vm '${spec.key}' has no unprivileged runAs identity, and this QEMU driver confines every VM; give the spec a per-instance uid/gid (not 0)`,
    );
  }
  // Empty, root's, and only traversable by others: QEMU can reach the migration socket the
  // driver puts there, and can create nothing in it.
  await rm(paths.jailDir, { recursive: true, force: true });
  await mkdir(paths.jailDir, { mode: 0o711 });
  await chmod(paths.jailDir, 0o711);
  return { seccomp: confinement.seccomp, runAs, chrootDir: paths.jailDir };
}

/**
 * Pids get reused: before signalling a pid from a stored handle, check that it is alive, was
 * started when recorded, and is the QEMU that owns this VM's QMP socket.
 */
export async function isQemuFor(
  pid: number,
  qmpSocket: string,
  startTime?: number,
): Promise<boolean> {
  if (!(await isAlive(pid, startTime))) return false;
  return (await commandLine(pid)).some((arg) => arg.includes(qmpSocket));
}

/** Readiness: QMP answers; a QEMU that exits meanwhile ends the wait with its own words. */
async function waitForQmp(
  context: QemuLaunchContext,
  vm: VmHandle,
  child: SpawnedProcess,
  processLog: string,
): Promise<void> {
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  const answers = async () => {
    if (exitCode === undefined) return context.qmpAnswers(vm);
    const tail = await logTail(processLog);
    throw new AbortWait(new HostError(`qemu for '${vm.key}' exited (${exitCode}): ${tail}`));
  };
  await waitUntil(answers, {
    clock: context.clock,
    timeoutMs: context.startMs,
    // QEMU takes tens of ms to open its QMP socket; a failed connect costs microseconds.
    intervalMs: 5,
    what: `QMP of vm '${vm.key}'`,
  });
}

function launchMeta(spec: VmSpec, how: QemuLaunchHow): SnapshotMeta {
  return {
    format: SNAPSHOT_FORMAT,
    accel: how.accel,
    ...(how.tscKhz === undefined ? {} : { tscKhz: how.tscKhz }),
    memMib: spec.memMib,
    vcpus: spec.vcpus,
    // Recorded either way: a restore launches exactly the devices the VM was saved with.
    balloon: how.balloon === true,
  };
}

async function assertNotRunning(spec: VmSpec, paths: QemuPaths): Promise<void> {
  const pid = await readPidFile(paths.pidFile);
  if (pid !== undefined && (await isQemuFor(pid, paths.qmpSocket))) {
    throw new ConflictError(
      `vm '${spec.key}' still has a qemu (pid ${pid}) in ${spec.workDir}; stop it before starting or restoring`,
      { key: spec.key, pid },
    );
  }
}

function assertSocketPaths(paths: readonly string[]): void {
  const long = paths.filter((p) => Buffer.byteLength(p) > MAX_UNIX_PATH);
  if (long.length > 0) {
    throw new ValidationError(
      `unix socket paths longer than ${MAX_UNIX_PATH} bytes: ${long.join(', ')}; use a shorter workDir`,
    );
  }
}
