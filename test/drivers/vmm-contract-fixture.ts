/**
 * The one VM a contract suite walks through its lifecycle. Each case asks for the state it
 * needs (running, paused) and gets the live VM when it is in a usable state; only a VM that
 * is gone or unresponsive (Firecracker < 1.4 now and then loses an API request for good) is
 * replaced by a fresh one, so a retried case starts clean while a healthy run boots once.
 */
import { join } from 'node:path';
import { GuestLinks } from '../../src/agent/runtime/guest-links.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import type { SnapshotRef, VmHandle, Vmm, VmSpec, VmState } from '../../src/ports/vmm.ts';
import { execText } from '../support/exec-output.ts';

export interface ContractVmOptions {
  vmm: Vmm;
  spec: VmSpec;
  /** Snapshots go here, one fresh directory each. */
  snapsDir: string;
  /** How long a cold boot may take to reach the guest agent; undefined when the driver's guest cannot boot here. */
  guestReadyMs: number | undefined;
}

export class ContractVm {
  private vm: VmHandle | undefined;
  private full: { pid: number; ref: SnapshotRef; bootId: string | undefined } | undefined;
  private snapshots = 0;
  /** The diff snapshot a case took, for the restore-from-diff case. */
  diff: SnapshotRef | undefined;
  /** boot_id of the live guest (guest checks only). */
  bootId: string | undefined;
  private linksPromise: Promise<GuestLinks> | undefined;

  constructor(private readonly options: ContractVmOptions) {}

  get vmm(): Vmm {
    return this.options.vmm;
  }

  get spec(): VmSpec {
    return this.options.spec;
  }

  get guestChecks(): boolean {
    return this.options.guestReadyMs !== undefined;
  }

  /** The live VM, running; resumed if paused, started cold if gone or broken. */
  async running(): Promise<VmHandle> {
    const state = await this.currentState();
    if (this.vm && state === 'running') return this.vm;
    if (this.vm && state === 'paused') {
      await this.vmm.resume(this.vm);
      return this.vm;
    }
    await this.discard();
    const vm = await this.vmm.start(this.options.spec);
    this.vm = vm;
    if (this.guestChecks) this.bootId = (await this.guestReady(vm)).boot_id;
    return vm;
  }

  async paused(): Promise<VmHandle> {
    const vm = await this.running();
    await this.vmm.pause(vm);
    return vm;
  }

  /** A full snapshot of the live VM process (diffs must apply to their own VMM's last full). */
  async fullSnapshot(): Promise<{ vm: VmHandle; ref: SnapshotRef }> {
    const vm = await this.paused();
    if (this.full?.pid === vm.pid) return { vm, ref: this.full.ref };
    const ref = await this.vmm.snapshot(vm, this.snapshotDir('full'), 'full');
    this.full = { pid: vm.pid, ref, bootId: this.bootId };
    return { vm, ref };
  }

  /** The last full snapshot taken, or a fresh one (of a VM that is then stopped). */
  async anyFullSnapshot(): Promise<SnapshotRef> {
    return this.full?.ref ?? (await this.fullSnapshot()).ref;
  }

  /** boot_id of the guest in the last full snapshot: a restore must not reboot it. */
  get snapshotBootId(): string | undefined {
    return this.full?.bootId;
  }

  /** A fresh directory per attempt, so a retried case never meets "already exists". */
  snapshotDir(label: string): string {
    this.snapshots += 1;
    return join(this.options.snapsDir, `${label}-${this.snapshots}`);
  }

  /** Adopts a VM the case made itself (a restore), so cleanup covers it. */
  track(vm: VmHandle): VmHandle {
    this.vm = vm;
    return vm;
  }

  async stop(vm: VmHandle): Promise<void> {
    await this.vmm.stop(vm);
    (await this.links()).drop(vm.key);
  }

  /** Stops whatever is live; never throws (it is also the cleanup). */
  async discard(): Promise<void> {
    const vm = this.vm;
    this.vm = undefined;
    if (vm) await this.stop(vm).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.discard();
    (await this.links()).closeAll();
  }

  /** Waits for the guest agent, then returns its status (boot_id, counter). */
  async guestReady(vm: VmHandle): Promise<{ boot_id: string }> {
    const client = (await this.links()).for(vm);
    await client.waitReady(this.options.guestReadyMs ?? 0);
    return client.status();
  }

  /** Runs a command through the guest agent; its stdout once it exits 0. */
  async exec(vm: VmHandle, argv: string[]): Promise<string> {
    const { stdout, stderr, exit } = await execText((await this.links()).for(vm), { argv });
    if (exit.code !== 0)
      throw new Error(`guest '${argv.join(' ')}' exited ${exit.code}: ${stderr}`);
    return stdout;
  }

  private async currentState(): Promise<VmState | 'broken'> {
    if (!this.vm) return 'exited';
    return this.vmm.state(this.vm).catch(() => 'broken' as const);
  }

  /** The guest channel comes from the driver's capabilities, never from its name. */
  private links(): Promise<GuestLinks> {
    this.linksPromise ??= this.vmm
      .capabilities()
      .then((caps) => new GuestLinks(caps.guestChannel, silentLogger));
    return this.linksPromise;
  }
}
