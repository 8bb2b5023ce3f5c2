import { access, copyFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError, IllegalTransitionError } from '../../core/errors.ts';
import type {
  SnapshotRef,
  VmHandle,
  Vmm,
  VmmCapabilities,
  VmSpec,
  VmState,
} from '../../ports/vmm.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { Logger } from '../../ports/logger.ts';
import { PhaseTimer } from '../clock/phase-timer.ts';
import { commandLine, isAlive, terminate, waitForExit } from '../process/process-control.ts';
import { FirecrackerApiClient, socketAccepts, unresponsiveVmm } from './api-client.ts';
import { bootRequests, sendAll, stageIntoJail, vmmFiles } from './boot-config.ts';
import { FIRECRACKER_MEM_OVERHEAD_MIB, defaultTimeouts } from './firecracker-config.ts';
import type { FirecrackerTimeouts, FirecrackerVmmConfig } from './firecracker-config.ts';
import { detectVersion } from './firecracker-version.ts';
import type { FirecrackerVersion } from './firecracker-version.ts';
import { ownerOf, removeJail, resetJail } from './jail-files.ts';
import type { JailOwner } from './jail-files.ts';
import { launchVmm } from './launch-vmm.ts';
import type { LaunchedVmm } from './launch-vmm.ts';
import { RESTORE_MEMORY_FILE, planLoad, prepareSnapshotInputs } from './load-snapshot.ts';
import { actionRequest, apiShapesFor, vmStateRequest } from './requests.ts';
import { forgetLastSnapshot, readSnapshotMeta, recordLastSnapshot } from './snapshot-files.ts';
import { takeSnapshot } from './take-snapshot.ts';
import type { VmLayout } from './vm-layout.ts';
import { jailRootFor, layoutFromHandle, vmLayout } from './vm-layout.ts';

const FIRECRACKER_STATES: Record<string, VmState> = {
  Running: 'running',
  Paused: 'paused',
  // Configured but never started: no vCPU runs, which is what paused means to callers.
  'Not started': 'paused',
};

/** The Vmm port over Firecracker's API socket, optionally launched through the jailer. */
export class FirecrackerVmm implements Vmm {
  readonly name = 'firecracker' as const;
  private readonly config: FirecrackerVmmConfig;
  private readonly timeouts: FirecrackerTimeouts;
  private readonly log: Logger;
  /** The binary's version as its API answered, and the binary it was asked of. */
  private version: { stamp: string; version: FirecrackerVersion } | undefined;

  constructor(config: FirecrackerVmmConfig) {
    this.config = config;
    this.timeouts = { ...defaultTimeouts, ...config.timeouts };
    this.log = config.logger ?? silentLogger;
  }

  async capabilities(): Promise<VmmCapabilities> {
    const jailerBin = this.config.jailer?.jailerBin;
    const jailer =
      jailerBin !== undefined &&
      (await access(jailerBin).then(
        () => true,
        () => false,
      ));
    return {
      diffSnapshots: this.diffSnapshots,
      jailer,
      // The jailer's chroot and uid/gid, plus Firecracker's own seccomp filters (always on).
      confined: jailer,
      memOverheadMib: FIRECRACKER_MEM_OVERHEAD_MIB,
      guestChannel: 'vsock',
      accel: 'kvm',
      // Unjailed, Firecracker opens the drives' own paths; a jail may get a copy of a
      // read-only drive its user cannot read (jail-files.ts), taken before it is written.
      drivesInPlace: this.config.jailer === undefined,
    };
  }

  async start(spec: VmSpec): Promise<VmHandle> {
    const timer = new PhaseTimer();
    const layout = await this.freshLayout(spec);
    const files = vmmFiles(layout, spec);
    const owner = this.ownerOf(spec);
    if (owner) await stageIntoJail(spec, files, owner, { boot: true, runner: this.hostRunner });
    timer.mark('layout');
    const vmm = await this.launch(spec, layout, owner, timer);
    await this.orKill(vmm, layout, async () => {
      const boot = bootRequests({
        spec,
        files,
        vsockUds: layout.vsock.vmm,
        guestCid: this.config.guestCid ?? 3,
        trackDirtyPages: this.diffSnapshots,
        shapes: apiShapesFor(vmm.version),
      });
      await sendAll(vmm.client, boot.slice(0, -1));
      timer.mark('configure');
      await sendAll(vmm.client, boot.slice(-1));
      timer.mark('instanceStart');
      await forgetLastSnapshot(spec.workDir);
    });
    this.log.info(
      { key: spec.key, pid: vmm.pid, version: vmm.version.raw, phasesMs: timer.ms },
      'firecracker started',
    );
    return this.handle(spec, layout, vmm, layout.vsock.host, owner);
  }

  async pause(vm: VmHandle): Promise<void> {
    const request = vmStateRequest('Paused');
    await this.client(vm).call(request.method, request.path, request.body);
  }

  async resume(vm: VmHandle): Promise<void> {
    const request = vmStateRequest('Resumed');
    await this.client(vm).call(request.method, request.path, request.body);
  }

  async snapshot(vm: VmHandle, dir: string, kind: 'full' | 'diff'): Promise<SnapshotRef> {
    const client = this.client(vm);
    const state = await this.state(vm);
    if (state !== 'paused') {
      throw new IllegalTransitionError(`VM '${vm.key}'`, state, 'snapshot', 'pause it first');
    }
    if (kind === 'diff' && !this.diffSnapshots) {
      throw new IllegalTransitionError(
        `VM '${vm.key}'`,
        state,
        'diff snapshot',
        'enable diffSnapshots',
      );
    }
    const version = await detectVersion(client);
    const layout = layoutFromHandle(vm);
    const owner = layout.jailRoot === undefined ? undefined : (vm.runAs ?? this.defaultOwner);
    return takeSnapshot({ vm, layout, client, version, dir, kind, owner });
  }

  async restore(spec: VmSpec, snapshot: SnapshotRef): Promise<VmHandle> {
    const timer = new PhaseTimer();
    const meta = await readSnapshotMeta(snapshot.dir);
    const layout = await this.freshLayout(spec);
    const files = vmmFiles(layout, spec);
    const owner = this.ownerOf(spec);
    timer.mark('layout');
    if (owner) await stageIntoJail(spec, files, owner, { boot: false, runner: this.hostRunner });
    const inputs = await prepareSnapshotInputs(
      layout,
      snapshot,
      this.config.runner,
      owner,
      this.hostRunner,
    );
    timer.mark('inputs');
    const vmm = await this.launch(spec, layout, owner, timer);
    const plan = await this.orKill(vmm, layout, async () => {
      const shapes = apiShapesFor(vmm.version);
      const loaded = planLoad(layout, spec, meta, inputs, shapes, this.diffSnapshots);
      await vmm.client.call(loaded.request.method, loaded.request.path, loaded.request.body);
      timer.mark('load');
      await recordLastSnapshot(spec.workDir, snapshot.dir);
      timer.mark('record');
      return loaded;
    });
    this.log.info(
      { key: spec.key, pid: vmm.pid, snapshot: snapshot.dir, phasesMs: timer.ms },
      'firecracker restored',
    );
    return this.handle(spec, layout, vmm, plan.guestSocket, owner);
  }

  async state(vm: VmHandle): Promise<VmState> {
    if (!(await isAlive(vm.pid, vm.pidStartTime))) return 'exited';
    const info = await this.probe(vm)
      .get('/')
      .catch(async (error: unknown) => {
        if (!(await isAlive(vm.pid, vm.pidStartTime))) return undefined;
        throw unresponsiveVmm(vm, error);
      });
    if (info === undefined) return 'exited';
    const state = (info as { state?: unknown }).state;
    const mapped = typeof state === 'string' ? FIRECRACKER_STATES[state] : undefined;
    if (mapped) return mapped;
    throw new HostError(
      `firecracker of VM '${vm.key}' reports an unknown state '${String(state)}'`,
      {
        key: vm.key,
        state,
      },
    );
  }

  async stop(vm: VmHandle): Promise<void> {
    const layout = layoutFromHandle(vm);
    if (await isFirecrackerProcess(vm)) {
      await this.askGuestToPowerOff(vm);
      const gone = await terminate(vm.pid, {
        clock: this.config.clock,
        termTimeoutMs: this.timeouts.termMs,
        killTimeoutMs: this.timeouts.killMs,
        startTime: vm.pidStartTime,
        onSigkill: () => this.log.warn({ key: vm.key, pid: vm.pid }, 'firecracker ignored SIGTERM'),
      });
      if (!gone) {
        throw new HostError(`firecracker pid ${vm.pid} of VM '${vm.key}' survived SIGKILL`, {
          pid: vm.pid,
        });
      }
    }
    await this.cleanUp(layout, vm);
    this.log.info({ key: vm.key, pid: vm.pid }, 'firecracker stopped');
  }

  /**
   * A live Firecracker whose API does not answer is not "gone": returning null would make the
   * caller start a second VMM on the same taps and drives. It throws instead; `stop` still works.
   */
  async adopt(vm: VmHandle): Promise<VmHandle | null> {
    if (!(await isFirecrackerProcess(vm))) return null;
    if (!(await socketAccepts(vm.controlSocket))) throw unresponsiveVmm(vm, 'socket refused');
    await this.probe(vm)
      .get('/')
      .catch((error: unknown) => {
        throw unresponsiveVmm(vm, error);
      });
    return vm;
  }

  private get hostRunner(): ProcessRunner {
    return this.config.hostRunner ?? this.config.runner;
  }

  private get diffSnapshots(): boolean {
    return this.config.diffSnapshots ?? true;
  }

  /** The jailer's configured uid/gid, for specs without an identity of their own. */
  private get defaultOwner(): JailOwner | undefined {
    return this.config.jailer ? ownerOf(this.config.jailer) : undefined;
  }

  /** Jailed: the instance's own identity when the spec has one. Unjailed: none. */
  private ownerOf(spec: VmSpec): JailOwner | undefined {
    if (!this.config.jailer) return undefined;
    return spec.runAs ?? this.defaultOwner;
  }

  private client(vm: VmHandle): FirecrackerApiClient {
    return new FirecrackerApiClient(vm.controlSocket, this.timeouts.apiRequestMs);
  }

  private probe(vm: VmHandle): FirecrackerApiClient {
    return new FirecrackerApiClient(vm.controlSocket, this.timeouts.apiProbeMs);
  }

  private async freshLayout(spec: VmSpec): Promise<VmLayout> {
    const { jailer, firecrackerBin } = this.config;
    if (!jailer) return vmLayout(spec.workDir, undefined);
    const jailRoot = jailRootFor(jailer, firecrackerBin, spec.key);
    await resetJail(jailRoot, this.hostRunner);
    return vmLayout(spec.workDir, jailRoot);
  }

  private async launch(
    spec: VmSpec,
    layout: VmLayout,
    owner: JailOwner | undefined,
    timer?: PhaseTimer,
  ): Promise<LaunchedVmm> {
    const stamp = await binaryStamp(this.config.firecrackerBin);
    const known = stamp !== undefined && this.version?.stamp === stamp ? this.version : undefined;
    const input = {
      ...(timer ? { timer } : {}),
      ...(known ? { knownVersion: known.version } : {}),
      key: spec.key,
      layout,
      cgroupDirs: spec.cgroupDirs ?? [],
      ...(owner ? { owner } : {}),
    };
    const launched = await launchVmm(this.config, this.timeouts, input);
    if (stamp !== undefined) this.version = { stamp, version: launched.version };
    return launched;
  }

  /** A VMM that failed half-way through configuration is of no use to anyone: remove it. */
  private async orKill<T>(vmm: LaunchedVmm, layout: VmLayout, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      await terminate(vmm.pid, {
        clock: this.config.clock,
        termTimeoutMs: 500,
        killTimeoutMs: this.timeouts.killMs,
        startTime: vmm.startTime,
      });
      if (layout.jailRoot !== undefined) await removeJail(layout.jailRoot, this.hostRunner);
      throw error;
    }
  }

  private handle(
    spec: VmSpec,
    layout: VmLayout,
    vmm: LaunchedVmm,
    guestSocket: string,
    owner: JailOwner | undefined,
  ): VmHandle {
    return {
      key: spec.key,
      driver: 'firecracker',
      pid: vmm.pid,
      pidStartTime: vmm.startTime,
      controlSocket: layout.apiSocket.host,
      guestSocket,
      workDir: spec.workDir,
      ...(owner ? { runAs: { uid: owner.uid, gid: owner.gid } } : {}),
    };
  }

  /**
   * SendCtrlAltDel only means something to a running x86 guest that listens for it. Best
   * effort: a VMM that cannot answer is killed by the caller anyway.
   */
  private async askGuestToPowerOff(vm: VmHandle): Promise<void> {
    const running = await this.state(vm).then(
      (state) => state === 'running',
      () => false,
    );
    if (!running) return;
    const request = actionRequest('SendCtrlAltDel');
    const sent = await this.probe(vm)
      .call(request.method, request.path, request.body)
      .then(
        () => true,
        () => false,
      );
    if (!sent) return;
    await waitForExit(vm.pid, {
      clock: this.config.clock,
      timeoutMs: this.timeouts.gracefulStopMs,
      startTime: vm.pidStartTime,
    });
  }

  private async cleanUp(layout: VmLayout, vm: VmHandle): Promise<void> {
    await rm(vm.controlSocket, { force: true });
    await rm(vm.guestSocket, { force: true });
    await rm(join(vm.workDir, RESTORE_MEMORY_FILE), { force: true });
    if (layout.jailRoot === undefined) return;
    // Keep the VMM's log next to the other per-VM files before the chroot goes.
    await copyFile(layout.log.host, join(vm.workDir, 'firecracker.log')).catch(() => undefined);
    await removeJail(layout.jailRoot, this.hostRunner);
  }
}

/** Which file the binary is (device, inode, size, mtime): a replaced binary asks again. */
async function binaryStamp(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  return info && `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
}

/** Alive, and really a Firecracker: after a host reboot the pid may belong to anything. */
async function isFirecrackerProcess(vm: VmHandle): Promise<boolean> {
  if (!(await isAlive(vm.pid, vm.pidStartTime))) return false;
  return (await commandLine(vm.pid)).some((arg) => arg.includes('firecracker'));
}
