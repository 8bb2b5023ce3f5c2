import { assertTransition } from '../../core/state-machine.ts';
import type { InstanceStatus } from '../../core/model.ts';
import type { VmHandle } from '../../ports/vmm.ts';
import { HostError } from '../../core/errors.ts';
import type { VmChange, VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';

/** Writes a change as a compare-and-set; a status change is checked against the state machine. */
export async function save(
  deps: RuntimeDeps,
  record: VmRecord,
  change: VmChange,
): Promise<VmRecord> {
  if (change.status !== undefined && change.status !== record.status) {
    assertTransition(`instance '${record.key}'`, record.status, change.status);
  }
  return deps.vms.update(record, change, deps.clock.now());
}

/** Moves to `status` (checked), clearing the intent: the step is complete. */
export function settle(
  deps: RuntimeDeps,
  record: VmRecord,
  status: InstanceStatus,
  change: VmChange = {},
): Promise<VmRecord> {
  return save(deps, record, { ...change, status, intent: null, failureReason: null });
}

export function requireHandle(record: VmRecord): VmHandle {
  if (record.handle === null) {
    throw new HostError(
      `instance '${record.key}' is ${record.status} but has no VMM process on record; stop it and start it again`,
    );
  }
  return record.handle;
}
