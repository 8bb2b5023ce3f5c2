import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError, errorMessage } from '../../core/errors.ts';
import type { GuestBusy } from '../../contract/guest-protocol-v2.ts';
import type { SnapshotRef, VmHandle } from '../../ports/vmm.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import { instanceDir, snapshotsDir } from './layout.ts';
import { requireHandle, save, settle } from './step-context.ts';
import { beforeSleep, SleepRefusedError } from './hook-steps.ts';
import { dropSecretsDrive } from './stop-steps.ts';
import { reclaimBeforeWarm } from './warm-reclaim.ts';

/**
 * A sleep the guest's drain refused: work was still in flight at the deadline. The instance
 * keeps running; the reconciler reports it running with this reason and tries again on its
 * next pass, unless the sleep is forced.
 */
export class GuestBusyError extends SleepRefusedError {
  constructor(key: string, deadlineMs: number, busy: GuestBusy) {
    const what = [
      busy.commands.length ? `commands: ${busy.commands.join(', ')}` : '',
      busy.flags.length ? `busy flags: ${busy.flags.join(', ')}` : '',
    ].filter(Boolean);
    super(
      `instance '${key}' is still busy after a ${deadlineMs} ms drain (${what.join('; ')}); it keeps running. Retry later, or force the sleep to snapshot it busy`,
      { key, busy },
    );
  }
}

/** running -> warm: vCPUs paused, RAM kept. */
export async function pause(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  const vm = requireHandle(record);
  await reclaimBeforeWarm(deps, vm);
  await deps.vmm.pause(vm);
  deps.fault?.('warm.after-pause');
  return settle(deps, record, 'warm');
}

/** warm -> running. */
export async function resume(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  await deps.vmm.resume(requireHandle(record));
  return settle(deps, record, 'running');
}

/**
 * The cooperative drain: the guest waits up to the sleep-prep deadline for its in-flight
 * commands and the workload's busy flags, then flushes its filesystems. A guest still busy
 * then is not put to sleep (it stays running) unless the sleep is forced.
 */
export async function drain(
  deps: RuntimeDeps,
  vm: VmHandle,
  force = false,
  hook?: readonly string[],
): Promise<void> {
  await beforeSleep(deps, vm, hook, force);
  const result = await deps.guests.for(vm).sleepPrep(deps.timeouts.sleepPrepMs);
  if (result.drained || force) {
    if (!result.drained)
      deps.logger.warn({ key: vm.key, busy: result.busy }, 'forced sleep of a busy guest');
    return;
  }
  throw new GuestBusyError(vm.key, deps.timeouts.sleepPrepMs, result.busy);
}

/**
 * warm -> sleeping. The guest drains first (a warm guest is resumed for that), the snapshot
 * is written by the driver to a temp path and renamed, recorded, and only then is the VMM
 * ended and the instance marked sleeping. Any failure before that resumes the VM: a failed
 * sleep leaves it running.
 */
export async function sleep(
  deps: RuntimeDeps,
  warm: VmRecord,
  drained: boolean,
  force = false,
): Promise<VmRecord> {
  const vm = requireHandle(warm);
  let record = await save(deps, warm, { intent: 'sleep' });
  let snapshot: SnapshotRef;
  try {
    if (!drained) {
      await deps.vmm.resume(vm);
      await drain(deps, vm, force, warm.spec.hooks?.beforeSleep);
      await deps.vmm.pause(vm);
    }
    snapshot = await deps.vmm.snapshot(vm, await nextSnapshotDir(deps, record), 'full');
    deps.fault?.('sleep.after-snapshot');
  } catch (error) {
    return abandonSleep(deps, record, vm, error);
  }
  record = await save(deps, record, { snapshot });
  await deps.vmm.stop(vm);
  deps.fault?.('sleep.after-stop');
  deps.guests.drop(record.key);
  await dropSecretsDrive(deps, record.key);
  const asleep = await settle(deps, record, 'sleeping', { handle: null });
  await removeOtherSnapshots(deps, record.key, snapshot.dir);
  deps.logger.info({ key: record.key, bytes: snapshot.sizeBytes }, 'instance sleeping');
  return asleep;
}

async function abandonSleep(
  deps: RuntimeDeps,
  record: VmRecord,
  vm: VmHandle,
  cause: unknown,
): Promise<never> {
  deps.logger.warn({ key: record.key, error: errorMessage(cause) }, 'sleep failed; resuming');
  await deps.vmm.resume(vm);
  await settle(deps, record, 'running');
  // Refused, not failed: the guest said why, and nothing on the host went wrong.
  if (cause instanceof SleepRefusedError) throw cause;
  throw new HostError(
    `sleep of '${record.key}' failed, the instance was resumed and is running: ${errorMessage(cause)}`,
    { key: record.key },
    { cause },
  );
}

/** `<instanceDir>/snapshots/<n>`, n one above the highest present. */
async function nextSnapshotDir(deps: RuntimeDeps, record: VmRecord): Promise<string> {
  const dir = snapshotsDir(instanceDir(deps.layout, record.key));
  const numbers = (await readdir(dir).catch(() => [] as string[]))
    .map(Number)
    .filter((n) => Number.isInteger(n));
  return join(dir, String(Math.max(0, ...numbers) + 1));
}

async function removeOtherSnapshots(deps: RuntimeDeps, key: string, keep: string): Promise<void> {
  const dir = snapshotsDir(instanceDir(deps.layout, key));
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names
      .map((name) => join(dir, name))
      .filter((path) => path !== keep)
      .map((path) => rm(path, { recursive: true, force: true })),
  );
}
