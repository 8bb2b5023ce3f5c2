import { isDeepStrictEqual } from 'node:util';
import { ConflictError, IllegalTransitionError } from '../../core/errors.ts';
import type { DesiredStatus, InstanceStatus } from '../../core/model.ts';
import { pathTo } from '../../core/state-machine.ts';
import { localSpecSchema } from '../../contract/agent-api.ts';
import type { LocalAction, PutInstanceBody, StoredSpec } from '../../contract/agent-api.ts';
import { tenantTapName } from '../network/desired-network.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { boot, prepare, wake } from './boot-steps.ts';
import type { RuntimeDeps } from './deps.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { drain, pause, resume, sleep } from './sleep-steps.ts';
import { requireHandle, save } from './step-context.ts';
import { destroy, stop } from './stop-steps.ts';
import { defaultTapName, vmKey } from './vm-key.ts';

export interface InstanceRef {
  tenantId: string;
  poolId: string;
  instanceId: string;
}

const desiredByAction: Readonly<Record<LocalAction, DesiredStatus>> = {
  start: 'running',
  wake: 'running',
  stop: 'stopped',
  warm: 'warm',
  sleep: 'sleeping',
  destroy: 'destroyed',
};

/**
 * The lifecycle of the VMs on this host. Every action walks the core state machine's path
 * from the stored status to the wanted one (so `start` on a sleeping instance wakes it),
 * one checked, compare-and-set step at a time, serialized per instance.
 */
export class InstanceRuntime {
  private readonly mutex = new KeyedMutex();

  constructor(private readonly deps: RuntimeDeps) {}

  keyOf(ref: InstanceRef): string {
    return vmKey(ref.tenantId, ref.poolId, ref.instanceId);
  }

  /** Idempotent create; a changed spec or secrets updates the record (applied on next boot/wake). */
  put(ref: InstanceRef, body: PutInstanceBody): Promise<VmRecord> {
    const key = this.keyOf(ref);
    return this.mutex.run(key, async () => {
      const existing = await this.deps.vms.get(key);
      const spec = localSpecSchema.parse(body.spec);
      if (!existing) {
        return this.deps.vms.insert({
          key,
          ...ref,
          spec: {
            ...spec,
            tap: spec.tap ?? tapFor(key, spec),
            secretsVersion: 1,
            ...configVersion(body),
          },
          secrets: body.secrets ?? {},
          config: body.config ?? null,
          status: 'created',
          intent: null,
          handle: null,
          snapshot: null,
          failureReason: null,
          createdAt: this.deps.clock.now().toISOString(),
        });
      }
      return this.update(existing, spec, body);
    });
  }

  act(ref: InstanceRef, action: LocalAction): Promise<VmRecord> {
    const key = this.keyOf(ref);
    return this.mutex.run(key, async () => {
      let record = await this.deps.vms.require(key);
      const desired = desiredByAction[action];
      if (action === 'wake' && record.status !== 'sleeping' && record.status !== 'warm') {
        if (record.status === 'running') return record;
        throw new IllegalTransitionError(
          `instance '${key}'`,
          record.status,
          'running',
          'wake needs a sleeping or warm instance; use start',
        );
      }
      let drained = false;
      if (action === 'sleep' && record.status === 'running') {
        await drain(this.deps, requireHandle(record));
        drained = true;
      }
      for (const step of pathTo(record.status, desired, `instance '${key}'`)) {
        record = await this.step(record, step, drained);
      }
      return record;
    });
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

  /** Runs `work` holding the instance's lock (recovery and stats use it). */
  locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, work);
  }

  private step(record: VmRecord, to: InstanceStatus, drained: boolean): Promise<VmRecord> {
    switch (to) {
      case 'ready':
        return prepare(this.deps, record);
      case 'running':
        if (record.status === 'warm') return resume(this.deps, record);
        if (record.status === 'sleeping') return wake(this.deps, record);
        return boot(this.deps, record);
      case 'warm':
        return pause(this.deps, record);
      case 'sleeping':
        return sleep(this.deps, record, drained);
      case 'stopped':
        return stop(this.deps, record);
      case 'destroyed':
        return destroy(this.deps, record);
      default:
        throw new ConflictError(`instance '${record.key}': no step leads to '${to}'`);
    }
  }

  private async update(
    existing: VmRecord,
    spec: StoredSpecInput,
    body: PutInstanceBody,
  ): Promise<VmRecord> {
    const secrets = body.secrets ?? existing.secrets;
    const secretsChanged = !isDeepStrictEqual(secrets, existing.secrets);
    const next: StoredSpec = {
      ...spec,
      // A VMM or snapshot holds the tap by name; otherwise follow the (new) tenant network.
      tap: spec.tap ?? (isLive(existing) ? existing.spec.tap : tapFor(existing.key, spec)),
      secretsVersion: existing.spec.secretsVersion + (secretsChanged ? 1 : 0),
      ...(body.config
        ? configVersion(body)
        : existing.spec.configVersion
          ? { configVersion: existing.spec.configVersion }
          : {}),
    };
    assertIdentityKept(existing, next);
    const config = body.config ?? existing.config;
    if (
      isDeepStrictEqual(next, existing.spec) &&
      !secretsChanged &&
      isDeepStrictEqual(config, existing.config)
    ) {
      return existing;
    }
    return save(this.deps, existing, { spec: next, secrets, config });
  }
}

type StoredSpecInput = ReturnType<typeof localSpecSchema.parse>;

function configVersion(body: PutInstanceBody): { configVersion?: string } {
  return body.config ? { configVersion: body.config.version } : {};
}

/** A tenant instance's tap is `mvt<netId>-<octet>` (made by the network driver); else the VMM's. */
function tapFor(key: string, spec: StoredSpecInput): string {
  return tenantTapName(spec) ?? defaultTapName(key);
}

function isLive(record: VmRecord): boolean {
  return record.handle !== null || record.snapshot !== null;
}

/** IP/MAC/tap/shape are fixed while a VMM or snapshot holds them: a restore needs the same machine. */
function assertIdentityKept(existing: VmRecord, next: StoredSpec): void {
  const live = isLive(existing);
  const fixed = ['ip', 'mac', 'tap', 'vcpus', 'memMib', 'role'] as const;
  const changed = fixed.filter((field) => next[field] !== existing.spec[field]);
  if (live && changed.length > 0) {
    throw new ConflictError(
      `instance '${existing.key}' is ${existing.status}; ${changed.join(', ')} cannot change until it is stopped`,
      { changed },
    );
  }
}
