import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, HostError, ValidationError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type {
  SnapshotRef,
  Vmm,
  VmmCapabilities,
  VmHandle,
  VmSpec,
  VmState,
} from '../../ports/vmm.ts';
import { PhaseTimer } from '../clock/phase-timer.ts';
import { systemClock } from '../clock/system-clock.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { terminate, waitForExit } from '../process/process-control.ts';
import { netdevId, qemuPaths, tscKhzFromCpuinfo } from './qemu-args.ts';
import type { Accel } from './qemu-args.ts';
import { UNCONFINED } from './qemu-confine.ts';
import type { QemuConfinement } from './qemu-confine.ts';
import { isQemuFor, launchQemu } from './qemu-launch.ts';
import type { LaunchedQemu, QemuLaunchHow } from './qemu-launch.ts';
import { qemuMemOverheadMib } from './qemu-memory.ts';
import {
  assertCompatible,
  loadSnapshot,
  readSnapshotMeta,
  saveSnapshot,
  snapshotStateFile,
} from './qemu-snapshot.ts';
import type { MigrationTarget, SnapshotMeta } from './qemu-snapshot.ts';
import { QmpClient } from './qmp-client.ts';

export interface QemuVmmOptions {
  runner: ProcessRunner;
  accel: Accel;
  logger?: Logger;
  /** Measures every wait (QMP, migration, exit); default the system clock. */
  clock?: Clock;
  /** Default qemu-system-x86_64 from PATH (the agent passes its configured MVM_QEMU_BINARY). */
  qemuBinary?: string;
  /** Host TSC in kHz for TCG guests; default read from /proc/cpuinfo. */
  tscKhz?: number;
  timeouts?: Partial<QemuTimeouts>;
  /** -sandbox, -runas, -chroot (see qemu-confine.ts); default none. */
  confinement?: QemuConfinement;
  /**
   * Boot VMs with the free-page-reporting balloon (qemu-balloon.ts); default on. A restore
   * follows the snapshot's own record instead, so older snapshots still restore.
   */
  balloon?: boolean;
  /**
   * The TCG translation cache, MiB (default TCG_TB_SIZE_MIB, qemu-memory.ts): smaller holds
   * less host memory per VM and retranslates more. Counted in the cgroup overhead figure.
   */
  tcgTbSizeMib?: number;
}

export interface QemuTimeouts {
  /** Process start until QMP answers. */
  startMs: number;
  /** One QMP command. */
  commandMs: number;
  /** Saving or loading the migration stream. */
  migrateMs: number;
  /** Each stage of stop: quit, SIGTERM, SIGKILL. */
  stopStageMs: number;
}

const DEFAULT_TIMEOUTS: QemuTimeouts = {
  startMs: 15_000,
  commandMs: 10_000,
  migrateMs: 120_000,
  stopStageMs: 3_000,
};

export const QEMU_BINARY = 'qemu-system-x86_64';

/** The Vmm port on `qemu-system-x86_64 -M microvm`, driven over QMP. */
export class QemuVmm implements Vmm {
  readonly name = 'qemu' as const;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly timeouts: QemuTimeouts;
  private readonly binary: string;
  private tscKhz: number | undefined;
  private readonly confinement: QemuConfinement;

  constructor(private readonly options: QemuVmmOptions) {
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.binary = options.qemuBinary ?? QEMU_BINARY;
    this.tscKhz = options.tscKhz;
    this.confinement = options.confinement ?? UNCONFINED;
  }

  capabilities(): Promise<VmmCapabilities> {
    return Promise.resolve({
      diffSnapshots: false,
      jailer: false,
      confined: this.confinement.seccomp && this.confinement.dropPrivileges,
      memOverheadMib: qemuMemOverheadMib(this.options.accel, this.options.tcgTbSizeMib),
      guestChannel: 'virtio-serial',
      accel: this.options.accel,
      // Drives are descriptors the driver opens on the files themselves (qemu-fds.ts).
      drivesInPlace: true,
    });
  }

  async start(spec: VmSpec): Promise<VmHandle> {
    const tscKhz = this.options.accel === 'tcg' ? await this.hostTscKhz() : undefined;
    const balloon = this.options.balloon ?? true;
    const { vm } = await this.launch(spec, {
      accel: this.options.accel,
      tscKhz,
      balloon,
      ...this.tbSize(),
    });
    await this.execute(vm, 'cont');
    await this.expectStatus(vm, 'running');
    this.log.info(
      { key: spec.key, pid: vm.pid, accel: this.options.accel, balloon },
      'qemu started',
    );
    return vm;
  }

  async pause(vm: VmHandle): Promise<void> {
    await this.execute(vm, 'stop');
  }

  async resume(vm: VmHandle): Promise<void> {
    await this.execute(vm, 'cont');
  }

  /** QMP `set_link` on the tap netdev: QEMU drops the NIC's frames both ways while off. */
  async setLink(vm: VmHandle, netId: string, up: boolean): Promise<void> {
    await this.withQmp(vm, (qmp) =>
      qmp.execute('set_link', { name: netdevId(netId), up }, this.timeouts.commandMs),
    );
  }

  async snapshot(vm: VmHandle, dir: string, kind: 'full' | 'diff'): Promise<SnapshotRef> {
    if (kind === 'diff') {
      throw new ValidationError(
        'the qemu driver cannot take diff snapshots (capabilities().diffSnapshots is false); take a full snapshot',
      );
    }
    if ((await this.state(vm)) !== 'paused') {
      throw new ConflictError(`vm '${vm.key}' must be paused before a snapshot; pause it first`, {
        key: vm.key,
      });
    }
    const meta = await this.launchMeta(vm);
    const started = this.clock.now().getTime();
    const target = migrationTarget(vm);
    const ref = await this.withQmp(vm, (qmp) =>
      saveSnapshot(qmp, dir, meta, this.migrationWait(), target),
    );
    this.log.info(
      { key: vm.key, dir, bytes: ref.sizeBytes, ms: this.clock.now().getTime() - started },
      'snapshot saved',
    );
    return ref;
  }

  async restore(spec: VmSpec, snapshot: SnapshotRef): Promise<VmHandle> {
    if (snapshot.kind !== 'full') {
      throw new ValidationError('the qemu driver restores full snapshots only');
    }
    const timer = new PhaseTimer();
    const meta = await readSnapshotMeta(snapshot.dir);
    assertCompatible(spec, meta, this.options.accel);
    timer.mark('meta');
    const how = {
      accel: meta.accel,
      tscKhz: meta.tscKhz,
      balloon: meta.balloon === true,
      ...this.tbSize(),
      incomingState: snapshotStateFile(snapshot.dir),
    };
    const { vm, incomingFd = -1 } = await this.launch(spec, how, timer);
    try {
      // One QMP session for the load and the check (each new one costs a connect, greeting
      // and capabilities round trip).
      await this.withQmp(vm, async (qmp) => {
        await loadSnapshot(qmp, snapshot.dir, incomingFd, this.migrationWait());
        timer.mark('incoming');
        const status = await qmp.execute<{ status?: string }>('query-status');
        // Any status but running is paused to callers (state()).
        if (status.status === 'running') {
          throw new HostError(`vm '${vm.key}' is running, expected paused`);
        }
        timer.mark('status');
      });
    } catch (error) {
      await this.stop(vm);
      throw error;
    }
    this.log.info(
      { key: spec.key, pid: vm.pid, from: snapshot.dir, phasesMs: timer.ms },
      'qemu restored (paused)',
    );
    return vm;
  }

  async state(vm: VmHandle): Promise<VmState> {
    if (!(await this.isOurs(vm))) return 'exited';
    const status = await this.execute<{ status?: string }>(vm, 'query-status');
    return status.status === 'running' ? 'running' : 'paused';
  }

  async stop(vm: VmHandle): Promise<void> {
    if (await this.isOurs(vm)) await this.shutDown(vm);
    const paths = qemuPaths(vm.workDir);
    await Promise.all(
      [paths.qmpSocket, paths.agentSocket, paths.pidFile].map((p) => rm(p, { force: true })),
    );
  }

  async adopt(vm: VmHandle): Promise<VmHandle | null> {
    if (!(await this.isOurs(vm))) return null;
    try {
      await this.execute(vm, 'query-status');
      return vm;
    } catch (error) {
      this.log.warn(
        { key: vm.key, pid: vm.pid, error: String(error) },
        'qemu alive but QMP silent',
      );
      return null;
    }
  }

  private tbSize(): Pick<QemuLaunchHow, 'tcgTbSizeMib'> {
    const mib = this.options.tcgTbSizeMib;
    return mib === undefined ? {} : { tcgTbSizeMib: mib };
  }

  private launch(spec: VmSpec, how: QemuLaunchHow, timer?: PhaseTimer): Promise<LaunchedQemu> {
    const context = {
      ...(timer ? { timer } : {}),
      binary: this.binary,
      runner: this.options.runner,
      clock: this.clock,
      startMs: this.timeouts.startMs,
      qmpAnswers: (vm: VmHandle) => this.withQmp(vm, () => Promise.resolve(true)),
      confinement: this.confinement,
    };
    return launchQemu(context, spec, how);
  }

  /**
   * A QMP connection per operation: QEMU's QMP socket serves one client at a time, and a
   * connection held open would lock out an adopting agent or an operator (costs ~1-2 ms).
   */
  private async withQmp<T>(vm: VmHandle, use: (qmp: QmpClient) => Promise<T>): Promise<T> {
    const qmp = await QmpClient.connect(vm.controlSocket, {
      logger: this.log,
      timeoutMs: this.timeouts.commandMs,
    });
    try {
      return await use(qmp);
    } finally {
      qmp.close();
    }
  }

  private execute<T = unknown>(vm: VmHandle, command: string): Promise<T> {
    return this.withQmp(vm, (qmp) => qmp.execute<T>(command, undefined, this.timeouts.commandMs));
  }

  /** QMP quit first (QEMU flushes its drives), then SIGTERM, then SIGKILL. */
  private async shutDown(vm: VmHandle): Promise<void> {
    const { clock } = this;
    const stageMs = this.timeouts.stopStageMs;
    const at = { key: vm.key, pid: vm.pid };
    await this.quitGracefully(vm);
    if (await waitForExit(vm.pid, { clock, timeoutMs: stageMs, startTime: vm.pidStartTime }))
      return;
    this.log.warn(at, 'qemu ignored quit; sending SIGTERM');
    const gone = await terminate(vm.pid, {
      clock,
      termTimeoutMs: stageMs,
      killTimeoutMs: stageMs,
      startTime: vm.pidStartTime,
      onSigkill: () => this.log.warn(at, 'qemu ignored SIGTERM; sending SIGKILL'),
    });
    if (!gone) throw new HostError(`qemu pid ${vm.pid} of vm '${vm.key}' survived SIGKILL`, at);
  }

  private async quitGracefully(vm: VmHandle): Promise<void> {
    try {
      await this.withQmp(vm, (qmp) => qmp.execute('quit', undefined, this.timeouts.stopStageMs));
    } catch (error) {
      // QEMU may close the socket before answering quit; the exit wait decides.
      this.log.debug({ key: vm.key, error: String(error) }, 'quit without answer');
    }
  }

  private isOurs(vm: VmHandle): Promise<boolean> {
    return isQemuFor(vm.pid, vm.controlSocket, vm.pidStartTime);
  }

  private migrationWait(): { clock: Clock; timeoutMs: number } {
    return { clock: this.clock, timeoutMs: this.timeouts.migrateMs };
  }

  private async expectStatus(vm: VmHandle, want: VmState): Promise<void> {
    const got = await this.state(vm);
    if (got !== want) throw new HostError(`vm '${vm.key}' is ${got}, expected ${want}`);
  }

  private async launchMeta(vm: VmHandle): Promise<SnapshotMeta> {
    const text = await readFile(join(vm.workDir, 'launch.json'), 'utf8');
    return JSON.parse(text) as SnapshotMeta;
  }

  private async hostTscKhz(): Promise<number | undefined> {
    this.tscKhz ??= tscKhzFromCpuinfo(await readFile('/proc/cpuinfo', 'utf8').catch(() => ''));
    return this.tscKhz;
  }
}

/** A chrooted QEMU (one that runs as its own user) reaches the socket at its jail's root. */
function migrationTarget(vm: VmHandle): MigrationTarget {
  const { migrateSocket } = qemuPaths(vm.workDir);
  if (vm.runAs === undefined) return { hostSocket: migrateSocket, vmmSocket: migrateSocket };
  return { hostSocket: migrateSocket, vmmSocket: '/migrate.sock', owner: vm.runAs };
}
