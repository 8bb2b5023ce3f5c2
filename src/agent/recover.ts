import { errorMessage } from '../core/errors.ts';
import { rm } from 'node:fs/promises';
import type { VmRecord } from './state/vm-repo.ts';
import { placeInCgroup } from './runtime/boot-steps.ts';
import type { RuntimeDeps } from './runtime/deps.ts';
import type { InstanceRuntime } from './runtime/instance-runtime.ts';
import { instanceDir, snapshotsDir } from './runtime/layout.ts';
import { save, settle } from './runtime/step-context.ts';
import { reapOrphans } from './orphans.ts';
import type { OrphanReport } from './orphans.ts';
import { CLONE_INTENT, interruptedClone } from './clones/clone-steps.ts';

export interface RecoveryReport {
  adopted: string[];
  failed: string[];
  orphans: OrphanReport;
}

/**
 * On agent start: every record with a VMM handle is re-attached (`vmm.adopt`), never killed
 * or started twice; a vanished VMM turns running/warm into `failed` with a reason; an action
 * cut short by a crash (the stored intent) is finished or rolled back. Then anything with the
 * mvm prefix that no record owns is removed.
 */
export async function recover(
  deps: RuntimeDeps,
  runtime: InstanceRuntime,
): Promise<RecoveryReport> {
  const report: RecoveryReport = {
    adopted: [],
    failed: [],
    orphans: { processes: [], cgroups: [], dirs: [] },
  };
  const livePids = new Set<number>();
  for (const stored of await deps.vms.list()) {
    await runtime.locked(stored.key, async () => {
      const record = await recoverOne(deps, stored).catch(async (error: unknown) => {
        deps.logger.error({ key: stored.key, error: errorMessage(error) }, 'recovery failed');
        return stored;
      });
      if (record.handle) {
        livePids.add(record.handle.pid);
        report.adopted.push(record.key);
      }
      if (record.status === 'failed' && stored.status !== 'failed') report.failed.push(record.key);
    });
  }
  const owned = new Set((await deps.vms.list()).map((r) => r.key));
  report.orphans = await reapOrphans(deps, owned, livePids);
  const released = await deps.identities.releaseUnowned(owned);
  if (released.length > 0) deps.logger.warn({ keys: released }, 'released orphan VMM identities');
  await rebuildNetwork(deps);
  deps.logger.info({ ...report }, 'recovery done');
  return report;
}

/**
 * Bridges, taps and rules are rebuilt from the records (rules replaced, never appended) and
 * mvm-named links no record owns are reaped. A failure does not stop the agent: its API
 * stays up to diagnose, and every boot applies again before it starts a VMM.
 */
async function rebuildNetwork(deps: RuntimeDeps): Promise<void> {
  try {
    await deps.network?.sync();
  } catch (error) {
    const why = errorMessage(error);
    deps.logger.error({ error: why }, 'tenant network not applied at start; boots will retry');
  }
}

async function recoverOne(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  if (!record.handle) return recoverWithoutProcess(deps, record);
  const vm = await deps.vmm.adopt(record.handle);
  if (!vm) return vanished(deps, record);
  if (record.intent === CLONE_INTENT) return interruptedClone(deps, record, vm);
  await placeInCgroup(deps, vm).catch((error: unknown) =>
    deps.logger.warn(
      { key: record.key, error: errorMessage(error) },
      'adopted VMM not in its cgroup',
    ),
  );
  const state = await deps.vmm.state(vm);
  if (record.intent === 'sleep') return finishOrUndoSleep(deps, record, state);
  if (record.intent === 'wake' && state !== 'running') {
    // Restored but never resumed: the snapshot is still the truth. Drop the process, stay asleep.
    await deps.vmm.stop(vm);
    return save(deps, record, { handle: null, intent: null });
  }
  // A wake whose guest already ran on is the truth now (it may have written its disks):
  // restoring the snapshot again would pair old memory with newer disks. Finish the wake.
  if (record.intent === 'wake')
    await rm(record.snapshot?.dir ?? '', { recursive: true, force: true });
  if (state === 'running') {
    // A booting guest (crash mid-start) gets the boot deadline; an adopted one answers at once.
    const deadline =
      record.intent === 'start' ? deps.timeouts.guestReadyMs : deps.timeouts.wakeReadyMs;
    const guest = deps.guests.for(vm);
    await guest.waitReady(deadline);
    // The crash may have come before the guest heard of its wake: tell it now, without drive
    // digests, so it remounts the secrets and config rebuilt for this wake (harmless twice).
    if (record.intent === 'wake') await guest.wake(Math.floor(deps.clock.now().getTime() / 1000));
    deps.logger.info({ key: record.key, pid: vm.pid }, 'adopted running VMM; guest answers');
    return record.status === 'running' && record.intent === null
      ? record
      : settleRunning(deps, record);
  }
  deps.logger.info({ key: record.key, pid: vm.pid }, 'adopted paused VMM');
  return record.status === 'warm'
    ? record
    : record.status === 'running'
      ? settle(deps, record, 'warm')
      : record;
}

function settleRunning(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  // A finished wake no longer has a snapshot: it was removed above.
  const change = record.intent === 'wake' ? { snapshot: null } : {};
  return record.status === 'running'
    ? save(deps, record, { intent: null, ...change })
    : settle(deps, record, 'running', change);
}

/** A crash mid-sleep: with a durable snapshot on record, finish it; without, resume. */
async function finishOrUndoSleep(
  deps: RuntimeDeps,
  record: VmRecord,
  state: string,
): Promise<VmRecord> {
  const vm = record.handle;
  if (!vm) return record;
  if (record.snapshot) {
    await deps.vmm.stop(vm);
    return settle(deps, record, 'sleeping', { handle: null });
  }
  if (state === 'paused') await deps.vmm.resume(vm);
  await rm(snapshotsDir(instanceDir(deps.layout, record.key)), { recursive: true, force: true });
  return settle(deps, record, 'running');
}

/** The VMM died while the agent was away: that is a failure, not a silent stop. */
async function vanished(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  if (record.status === 'sleeping' || (record.intent === 'sleep' && record.snapshot)) {
    const change = { handle: null, intent: null };
    return record.status === 'sleeping'
      ? save(deps, record, change)
      : settle(deps, record, 'sleeping', change);
  }
  const reason = `VMM process ${record.handle?.pid ?? '?'} was gone when the agent restarted (status was ${record.status})`;
  deps.logger.warn({ key: record.key, reason }, 'instance failed');
  await deps.cgroups?.remove(record.key);
  return save(deps, record, {
    status: 'failed',
    intent: null,
    handle: null,
    failureReason: reason,
  });
}

/** A crash before the handle was stored: the spawned VMM (if any) is reaped as an orphan. */
async function recoverWithoutProcess(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  if (record.intent === null) return record;
  if (record.status === 'ready' || record.status === 'running' || record.status === 'warm') {
    const reason = `the agent stopped during '${record.intent}' before the VMM was recorded`;
    return save(deps, record, { status: 'failed', intent: null, failureReason: reason });
  }
  return save(deps, record, { intent: null });
}
