import type { PutInstanceBody } from '../../src/contract/agent-api.ts';
import type { DesiredStatus } from '../../src/core/model.ts';
import type { PlanStep } from '../../src/core/reconcile-plan.ts';
import type { InstanceRef, InstanceRuntime } from '../../src/agent/runtime/instance-runtime.ts';
import { newRecordFields } from '../../src/agent/runtime/spec-change.ts';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';

/** One `run` the loop asked of the runtime: the instance's label and its steps' kinds. */
export interface RunCall {
  instance: string;
  kinds: PlanStep['kind'][];
}

/**
 * The runtime calls a reconcile pass makes, on records held in memory: each step moves the
 * record to its `to` status at once (a destroy deletes it), no VMM. The object outlives an
 * agent loop torn down and started again, as a host's records and VMs outlive its agent.
 */
export class MemoryRuntime {
  readonly records = new Map<string, VmRecord>();
  readonly runs: RunCall[] = [];
  /** Called as each run starts, before its steps apply. */
  onRun: ((call: RunCall) => void) | undefined;

  desiredNow(_ref: InstanceRef, desired: DesiredStatus): DesiredStatus {
    return desired;
  }

  list(): Promise<VmRecord[]> {
    return Promise.resolve([...this.records.values()]);
  }

  get(ref: InstanceRef): Promise<VmRecord | undefined> {
    return Promise.resolve(this.records.get(keyOf(ref)));
  }

  run(
    ref: InstanceRef,
    steps: readonly PlanStep[],
    body?: PutInstanceBody,
  ): Promise<VmRecord | undefined> {
    const key = keyOf(ref);
    const call = { instance: label(ref), kinds: steps.map((s) => s.kind) };
    this.runs.push(call);
    this.onRun?.(call);
    let record = this.records.get(key);
    for (const step of steps) {
      if (step.kind === 'destroy') record = undefined;
      else if (step.kind === 'put' && body) {
        const fresh = newRecordFields(key, body);
        record = { ...(record ?? newRecord(key, ref, body)), spec: fresh.spec };
      }
      // Every change moves the version, as the agent's records do (vm-repo.ts).
      if (record) record = { ...record, status: step.to, version: record.version + 1 };
    }
    if (record) this.records.set(key, record);
    else this.records.delete(key);
    return Promise.resolve(record);
  }

  /** As the loop's options take it (the runtime's class, of which only these calls are used). */
  get asRuntime(): InstanceRuntime {
    return this as unknown as InstanceRuntime;
  }

  /** Runs that destroyed `instance` (label). */
  destroys(instance: string): RunCall[] {
    return this.runs.filter((r) => r.instance === instance && r.kinds.includes('destroy'));
  }
}

const label = (ref: InstanceRef): string => `${ref.tenantId}/${ref.poolId}/${ref.instanceId}`;
const keyOf = (ref: InstanceRef): string => vmKey(ref.tenantId, ref.poolId, ref.instanceId);

function newRecord(key: string, ref: InstanceRef, body: PutInstanceBody): VmRecord {
  const now = new Date().toISOString();
  return {
    key,
    ...ref,
    ...newRecordFields(key, body),
    status: 'created',
    intent: null,
    handle: null,
    snapshot: null,
    failureReason: null,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
}
