import { lowerGate } from '../../core/wake-arming.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { WakeNotArmedError } from '../wake/wake-not-armed.ts';
import type { RuntimeDeps } from './deps.ts';

/**
 * Runs a step that makes the VM stop answering (drain, pause, sleep) behind its wake trap:
 * an instance with service ports is armed first and never lowered unarmed (lowerGate). A step
 * that fails leaves the VM running, so its trap is lifted again.
 */
export async function lowering(
  deps: RuntimeDeps,
  record: VmRecord,
  step: () => Promise<VmRecord>,
): Promise<VmRecord> {
  const gate = lowerGate(record.spec, deps.wake !== undefined);
  if (gate.kind === 'plain' || !deps.wake) {
    if (gate.kind === 'refuse') throw new WakeNotArmedError(record.key, gate.reason);
    return step();
  }
  await deps.wake.arm(record);
  try {
    return await step();
  } catch (error) {
    const now = await deps.vms.get(record.key);
    if (now?.status === 'running') await deps.wake.disarm(now);
    throw error;
  }
}

/** After a step that brings it up (or away): connections go straight to it again. */
export async function raised(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  if (deps.wake && (record.spec.servicePorts ?? []).length > 0) await deps.wake.disarm(record);
  return record;
}
