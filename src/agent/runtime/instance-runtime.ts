import { IllegalTransitionError, InternalError } from '../../core/errors.ts';
import type { DesiredStatus } from '../../core/model.ts';
import { planInstance } from '../../core/reconcile-plan.ts';
import { desiredAfterWake } from '../../core/wake-arming.ts';
import { desiredWhileUnreported } from '../../core/wake-admission.ts';
import type { PlanStep } from '../../core/reconcile-plan.ts';
import type { LocalAction, PutInstanceBody } from '../../contract/agent-api.ts';
import type { ExecRequest } from '../../contract/guest-protocol-v2.ts';
import type {
  ExecHandle,
  ExecOptions,
  PtyHandle,
  PtyRequest,
} from '../../drivers/guest-channel/exec-session.ts';
import type { GetFileHandle, PutFileOptions } from '../../drivers/guest-channel/file-session.ts';
import { readWorkloadLog, tailWorkloadLog } from '../../drivers/guest-channel/workload-log.ts';
import type { WorkloadLogView } from '../../drivers/guest-channel/workload-log.ts';
import type { Readable } from 'node:stream';
import type { VmRecord } from '../state/vm-repo.ts';
import { openConsoleStream, type ConsoleStreamOptions } from './console-stream.ts';
import { guestOf } from './guest-access.ts';
import { consoleLog, instanceDir } from './layout.ts';
import { boot, prepare, wake } from './boot-steps.ts';
import type { RuntimeDeps } from './deps.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { LoweringHooks, type LoweringHook } from './lowering-hooks.ts';
import { drain, pause, resume, sleep } from './sleep-steps.ts';
import { assertIdentityKept, newRecordFields, specChange } from './spec-change.ts';
import { StalePlanError } from './stale-plan.ts';
import { requireHandle, save } from './step-context.ts';
import { destroy, stop } from './stop-steps.ts';
import { vmKey } from './vm-key.ts';
import { lowering, raised } from './wake-steps.ts';
import { failLyingGuests } from './guest-violations.ts';
import { failExitedVmms, type Locked } from './vmm-exits.ts';

/** What a heartbeat says of a running guest's workload. */
export interface WorkloadSample {
  state: string;
  restarts: number;
  /** How long its current run has lasted (when running and the guest says). */
  runningForMs?: number;
}

/** The guest's own CPU time since boot, in ticks over all its CPUs (the agent's status). */
export interface GuestCpu {
  busy: number;
  idle: number;
}

/** What one status call says of a running guest: its workload and its own CPU time. */
export interface GuestSample {
  workload?: WorkloadSample;
  cpu?: GuestCpu;
}

export interface InstanceRef {
  tenantId: string;
  poolId: string;
  instanceId: string;
}

/** The local API's actions, each a status the core planner takes the instance to. */
const desiredByAction: Readonly<Record<LocalAction, DesiredStatus>> = {
  start: 'running',
  wake: 'running',
  stop: 'stopped',
  warm: 'warm',
  sleep: 'sleeping',
  destroy: 'destroyed',
};

/**
 * The lifecycle of the VMs on this host. It decides nothing: it executes the steps the core
 * planner (core/reconcile-plan.ts) names, one checked, compare-and-set step at a time,
 * serialized per instance.
 */
export class InstanceRuntime {
  private readonly mutex = new KeyedMutex();
  private readonly loweringHooks: LoweringHooks;

  constructor(private readonly deps: RuntimeDeps) {
    this.loweringHooks = new LoweringHooks(deps.logger);
  }

  /** Runs `hook` before every step that lowers a running VM (lowering-hooks.ts); its remover. */
  beforeLowering(hook: LoweringHook): () => void {
    return this.loweringHooks.add(hook);
  }

  keyOf(ref: InstanceRef): string {
    return vmKey(ref.tenantId, ref.poolId, ref.instanceId);
  }

  /** Idempotent create; a changed spec or secrets updates the record (applied on next boot/wake). */
  put(ref: InstanceRef, body: PutInstanceBody): Promise<VmRecord> {
    const key = this.keyOf(ref);
    return this.mutex.run(key, async () => this.write(ref, await this.deps.vms.get(key), body));
  }

  /**
   * Plans this one instance toward the action's status and runs the plan (`start` wakes a
   * sleeper). A sleep whose guest stays busy past the drain deadline fails and leaves it
   * running, unless `force`.
   */
  act(ref: InstanceRef, action: LocalAction, options: { force?: boolean } = {}): Promise<VmRecord> {
    const key = this.keyOf(ref);
    return this.mutex.run(key, async () => {
      const record = await this.deps.vms.require(key);
      if (action === 'wake' && record.status !== 'sleeping' && record.status !== 'warm') {
        if (record.status === 'running') return record;
        throw new IllegalTransitionError(
          `instance '${key}'`,
          record.status,
          'running',
          'wake needs a sleeping or warm instance; use start',
        );
      }
      const observed = { status: record.status, specCurrent: true };
      const steps = planInstance(key, observed, desiredByAction[action]);
      return (
        (await this.perform(ref, record, steps, undefined, options.force, 'local-api')) ?? record
      );
    });
  }

  /**
   * Runs one instance's steps of a plan, in order, holding its lock. `body` is the spec its
   * `put` step records; `force` lets its sleep snapshot a busy guest. Undefined when there is
   * no record and nothing to do.
   */
  run(
    ref: InstanceRef,
    steps: readonly PlanStep[],
    body?: PutInstanceBody,
    options: { force?: boolean; trigger?: string } = {},
  ): Promise<VmRecord | undefined> {
    const key = this.keyOf(ref);
    return this.mutex.run(key, async () =>
      this.perform(
        ref,
        await this.deps.vms.get(key),
        steps,
        body,
        options.force,
        options.trigger ?? 'desired',
      ),
    );
  }

  /**
   * Runs `fn` holding the instance's lock, so no step of it runs meanwhile (a move's export
   * and import read and write its files and record).
   */
  exclusive<T>(ref: InstanceRef, fn: (key: string) => Promise<T>): Promise<T> {
    const key = this.keyOf(ref);
    return this.mutex.run(key, () => fn(key));
  }

  /** Destroys every VM this agent knows (a host being emptied; tests and benches clean up). */
  async destroyAll(): Promise<void> {
    for (const vm of await this.list()) {
      await this.act(
        { tenantId: vm.tenantId, poolId: vm.poolId, instanceId: vm.instanceId },
        'destroy',
      );
    }
  }

  get(ref: InstanceRef): Promise<VmRecord> {
    return this.deps.vms.require(this.keyOf(ref));
  }

  list(): Promise<VmRecord[]> {
    return this.deps.vms.list();
  }

  /** Runs a command in a running instance's guest; see GuestAgentClient.exec. */
  async exec(ref: InstanceRef, request: ExecRequest, options?: ExecOptions): Promise<ExecHandle> {
    return guestOf(this.deps, await this.get(ref)).exec(request, options);
  }

  /** An interactive terminal in a running instance's guest. */
  async openPty(
    ref: InstanceRef,
    request: PtyRequest,
    options?: { signal?: AbortSignal },
  ): Promise<PtyHandle> {
    return guestOf(this.deps, await this.get(ref)).openPty(request, options);
  }

  async putFile(
    ref: InstanceRef,
    path: string,
    source: Readable | Uint8Array | string,
    options?: PutFileOptions,
  ): Promise<{ bytes: number }> {
    return guestOf(this.deps, await this.get(ref)).putFile(path, source, options);
  }

  async getFile(ref: InstanceRef, path: string): Promise<GetFileHandle> {
    return guestOf(this.deps, await this.get(ref)).getFile(path);
  }

  /** The serial console as this host keeps it, in any status (the guest is not asked). */
  async consoleLog(ref: InstanceRef, options: ConsoleStreamOptions): Promise<Readable> {
    const record = await this.get(ref);
    return openConsoleStream(consoleLog(instanceDir(this.deps.layout, record.key)), options);
  }

  /** The workload's log: its last `tail` lines, or what came after position `from`. */
  async workloadLogs(
    ref: InstanceRef,
    query: { tail?: number; from?: number },
  ): Promise<WorkloadLogView> {
    const guest = guestOf(this.deps, await this.get(ref));
    return query.from !== undefined
      ? readWorkloadLog(guest, query.from)
      : tailWorkloadLog(guest, query.tail ?? 100);
  }

  /** A running guest's workload (state, restarts), or undefined: none, not running, no answer. */
  async workloadStatus(record: VmRecord): Promise<WorkloadSample | undefined> {
    return (await this.guestSample(record))?.workload;
  }

  /**
   * A running guest's workload and its own CPU time, from one status call; undefined when not
   * running or no answer.
   */
  async guestSample(record: VmRecord): Promise<GuestSample | undefined> {
    if (record.status !== 'running' || !record.handle) return undefined;
    try {
      const status = await this.deps.guests.for(record.handle).status(2_000);
      // The guest socket's path outlives a VM: one replaced since `record` was read (a
      // rollout's restart) answered instead, and its sample must not carry the old revision.
      const current = await this.deps.vms.get(record.key);
      if (current?.handle?.pid !== record.handle.pid) return undefined;
      const cpu = status.cpu ? { cpu: { busy: status.cpu.busy, idle: status.cpu.idle } } : {};
      if (!status.workload) return cpu;
      const { state, restarts, running_for_ms: runningForMs } = status.workload;
      const workload = { state, restarts, ...(runningForMs !== undefined ? { runningForMs } : {}) };
      return { workload, ...cpu };
    } catch {
      return undefined;
    }
  }

  /**
   * Marks running and warm instances whose VMM died meanwhile (an OOM kill in its cgroup, a
   * crash) or whose guest broke the protocol as failed with the reason; returns them. The
   * serving agent runs it periodically.
   */
  async failExited(): Promise<VmRecord[]> {
    const locked: Locked = (key, work) => this.mutex.run(key, work);
    const exited = await failExitedVmms(this.deps, locked);
    return [...exited, ...(await failLyingGuests(this.deps, locked))];
  }

  /**
   * What the instance should be now, given what its document says: one this node woke on a
   * connection stays up a while whatever an older document says (core/wake-arming.ts).
   */
  desiredNow(ref: InstanceRef, desired: DesiredStatus): DesiredStatus {
    const key = this.keyOf(ref);
    const marks = [this.deps.wake?.wokenAt(key), this.deps.publish?.wokenAt(key)];
    const woken = marks.filter((at): at is number => at !== undefined);
    const wokenAt = woken.length > 0 ? Math.max(...woken) : undefined;
    const now = desiredAfterWake(desired, wokenAt, this.deps.clock.now().getTime());
    return desiredWhileUnreported(now, this.deps.localWakes?.unreported(key) === true);
  }

  /** Runs `work` holding the instance's lock (recovery and stats use it). */
  locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, work);
  }

  /** The caller holds the lock. After a destroy the record returned is no longer stored. */
  private async perform(
    ref: InstanceRef,
    first: VmRecord | undefined,
    steps: readonly PlanStep[],
    body?: PutInstanceBody,
    force = false,
    trigger = 'desired',
  ): Promise<VmRecord | undefined> {
    let record = first;
    for (const step of steps) {
      const at = record?.status ?? 'absent';
      if (at !== step.from) {
        throw new StalePlanError(this.keyOf(ref), at, step.from, step.kind);
      }
      record = await this.observed(step.kind, trigger, () =>
        this.step(ref, record, step, body, force),
      );
    }
    return record;
  }

  /** Runs a step, timing it for the metrics (a put records a spec: not a lifecycle step). */
  private async observed<T>(kind: string, trigger: string, run: () => Promise<T>): Promise<T> {
    const metrics = this.deps.metrics;
    if (!metrics || kind === 'put') return run();
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await run();
      metrics.step(kind, seconds(), 'ok', trigger);
      return result;
    } catch (error) {
      metrics.step(kind, seconds(), 'error', trigger);
      throw error;
    }
  }

  private async step(
    ref: InstanceRef,
    record: VmRecord | undefined,
    step: PlanStep,
    body?: PutInstanceBody,
    force = false,
  ): Promise<VmRecord> {
    if (step.kind === 'put') {
      if (!body) throw new InternalError(`a put of instance '${this.keyOf(ref)}' without a spec`);
      return this.write(ref, record, body);
    }
    if (!record) throw new InternalError(`step ${step.kind} of an instance without a record`);
    const lowers = step.kind === 'drain' || step.kind === 'pause' || step.kind === 'sleep';
    if (lowers && record.status === 'running') await this.loweringHooks.run(record.key);
    return this.move(record, step, force);
  }

  private async move(
    record: VmRecord,
    step: Exclude<PlanStep, { kind: 'put' }>,
    force: boolean,
  ): Promise<VmRecord> {
    const deps = this.deps;
    switch (step.kind) {
      case 'prepare':
        return prepare(deps, record);
      case 'boot':
        return boot(deps, record);
      case 'resume':
        return raised(deps, await resume(deps, record));
      case 'wake':
        return raised(deps, await wake(deps, record));
      case 'drain':
        return lowering(deps, record, async () => {
          await drain(deps, requireHandle(record), force, record.spec.hooks?.beforeSleep);
          return record;
        });
      case 'pause':
        return lowering(deps, record, () => pause(deps, record));
      case 'sleep':
        return lowering(deps, record, () => sleep(deps, record, step.drained, force));
      case 'stop':
        return raised(deps, await stop(deps, record));
      case 'destroy':
        return raised(deps, await destroy(deps, record));
    }
  }

  private async write(
    ref: InstanceRef,
    existing: VmRecord | undefined,
    body: PutInstanceBody,
  ): Promise<VmRecord> {
    const key = this.keyOf(ref);
    if (!existing) {
      const created = await this.deps.vms.insert({
        key,
        ...ref,
        ...newRecordFields(key, body),
        status: 'created',
        intent: null,
        handle: null,
        snapshot: null,
        failureReason: null,
        createdAt: this.deps.clock.now().toISOString(),
      });
      this.deps.fault?.('create.after-record');
      return created;
    }
    const change = specChange(existing, body);
    if (!change) return existing;
    if (change.spec) assertIdentityKept(existing, change.spec);
    return save(this.deps, existing, change);
  }
}
