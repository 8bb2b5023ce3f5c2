/**
 * A guest is a tenant's code: one whose agent breaks the protocol (framing, a frame begun and
 * never finished, output past its credit, answers that are not JSON) may say anything next.
 * Its channel is already dropped (drivers/guest-channel); here the instance is failed with
 * what the guest did, and its VMM stopped, as for a VMM that died. The host agent stays up.
 */
import { errorMessage } from '../../core/errors.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import { save } from './step-context.ts';
import type { Locked } from './vmm-exits.ts';

/** Fails every settled instance whose guest lied; returns them. */
export async function failLyingGuests(deps: RuntimeDeps, locked: Locked): Promise<VmRecord[]> {
  const failed: VmRecord[] = [];
  for (const [key, reason] of [...deps.guests.violations()]) {
    const record = await locked(key, () => failLiar(deps, key, reason));
    if (record) failed.push(record);
  }
  return failed;
}

async function failLiar(
  deps: RuntimeDeps,
  key: string,
  lie: string,
): Promise<VmRecord | undefined> {
  const record = await deps.vms.get(key);
  // One mid-action is that action's to judge: its guest call fails with the same reason.
  if (!record?.handle || record.intent !== null) return undefined;
  if (record.status !== 'running' && record.status !== 'warm') return undefined;
  const reason = `its guest agent broke the protocol: ${lie}`;
  deps.logger.error({ key, pid: record.handle.pid, reason }, 'instance failed: lying guest');
  deps.guests.drop(key);
  await deps.vmm.stop(record.handle).catch((error: unknown) => {
    deps.logger.warn({ key, error: errorMessage(error) }, 'VMM of a lying guest not stopped');
  });
  await deps.cgroups?.remove(key).catch((error: unknown) => {
    deps.logger.warn({ key, error: errorMessage(error) }, 'cgroup of a lying guest not removed');
  });
  return save(deps, record, { status: 'failed', handle: null, failureReason: reason });
}
