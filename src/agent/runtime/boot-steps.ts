import { HostError, errorMessage } from '../../core/errors.ts';
import type { VmHandle } from '../../ports/vmm.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import { save, settle } from './step-context.ts';
import { afterWake, noteSecretsDigest } from './hook-steps.ts';
import { dropSecretsDrive } from './stop-steps.ts';
import { allSettledOrThrow, materialize } from './vm-spec.ts';
import { discardSnapshot } from './discard-snapshot.ts';
import { instanceDir } from './layout.ts';
import type { DriveDigests } from '../../contract/guest-protocol.ts';
import { cloneBoot, makeBase } from '../clones/clone-steps.ts';
import { PhaseTimer, timed } from '../../drivers/clock/phase-timer.ts';

/** created/stopped/failed -> ready: the image is there; drives are built at boot. */
export async function prepare(deps: RuntimeDeps, record: VmRecord): Promise<VmRecord> {
  await deps.images.resolve(record.spec.revision);
  return settle(deps, record, 'ready');
}

/**
 * ready -> running: a clone of the pool's base when clones are on and one fits, else a cold
 * boot, then wait (with a deadline) for the guest agent. A cold boot with clones on leaves
 * the pool a base when it has none (clone-steps.ts).
 */
export async function boot(deps: RuntimeDeps, ready: VmRecord): Promise<VmRecord> {
  const cloned = await cloneBoot(deps, ready);
  if (cloned.kind === 'running') return cloned.record;
  // Only a first boot may give the pool its base: a later one's data drive is its own.
  const first = deps.clones ? await isFirstBoot(deps, ready) : false;
  const running = await coldBoot(deps, cloned.record);
  if (first) await makeBase(deps, running);
  return running;
}

async function isFirstBoot(deps: RuntimeDeps, record: VmRecord): Promise<boolean> {
  const has = await deps.drives.hasData?.(instanceDir(deps.layout, record.key));
  return has === false;
}

async function coldBoot(deps: RuntimeDeps, ready: VmRecord): Promise<VmRecord> {
  let record = await save(deps, ready, { intent: 'start' });
  let digests: DriveDigests = {};
  const handle = await syncNetwork(deps)
    .then(() => materialize(deps, record))
    .then(async (built) => {
      digests = built.digests;
      deps.fault?.('start.after-drives');
      const started = await deps.vmm.start(built.spec);
      deps.fault?.('start.after-spawn');
      return started;
    })
    .catch(async (error: unknown) => {
      const reason = `cold boot failed: ${errorMessage(error)}`;
      await dropSecretsDrive(deps, record.key);
      await save(deps, record, { status: 'failed', intent: null, failureReason: reason });
      throw error;
    });
  record = await save(deps, record, { handle });
  deps.fault?.('start.before-ready');
  try {
    await placeInCgroup(deps, handle);
    const guest = deps.guests.for(handle);
    const agent = await guest.waitReady(deps.timeouts.guestReadyMs);
    if (agent.proto < 2) {
      deps.logger.warn(
        { key: record.key, agent: agent.agent },
        'guest runs the version-1 agent: no exec, pty or files until its image is rebuilt',
      );
    }
    // Lets a later wake skip remounting drives that did not change (an old guest may not know).
    await guest.drives(digests).catch((error: unknown) => {
      deps.logger.warn(
        { key: record.key, error: errorMessage(error) },
        'guest did not take drive digests',
      );
    });
  } catch (error) {
    await deps.vmm.stop(handle);
    deps.guests.drop(record.key);
    await dropSecretsDrive(deps, record.key);
    const reason = `cold boot failed: ${errorMessage(error)}`;
    await save(deps, record, {
      status: 'failed',
      intent: null,
      handle: null,
      failureReason: reason,
    });
    throw error;
  }
  await noteSecretsDigest(deps, record.key, digests.secrets);
  deps.logger.info({ key: record.key, pid: handle.pid }, 'instance running (cold boot)');
  return settle(deps, record, 'running');
}

/**
 * sleeping -> running: fresh secrets, a new VMM from the snapshot, cgroup, resume, then the
 * guest is told it woke (with the host clock). A failed wake stops the half-restored VMM and
 * leaves the instance sleeping with its snapshot, so it can be retried.
 */
export async function wake(deps: RuntimeDeps, sleeping: VmRecord): Promise<VmRecord> {
  const snapshot = sleeping.snapshot;
  if (!snapshot) {
    throw new HostError(
      `instance '${sleeping.key}' is sleeping without a snapshot; stop it and start it cold`,
    );
  }
  const timer = new PhaseTimer();
  let record = await save(deps, sleeping, { intent: 'wake' });
  timer.mark('record');
  let digests: DriveDigests = {};
  let written: Promise<void> = Promise.resolve();
  const partsMs: Record<string, number> = {};
  // The tap must be on its bridge before the VMM opens it; the drives and cgroup need not
  // wait for that. The secrets drive's content is written while the VMM restores (its file
  // exists already): the guest runs only after `written`.
  const materialized = materialize(deps, record, { deferWrites: true });
  const handle = await allSettledOrThrow(timed(partsMs, 'network', syncNetwork(deps)), materialized)
    .then(async ([, built]) => {
      timer.mark('drives and network');
      ({ digests, written } = built);
      Object.assign(partsMs, built.partsMs);
      const restored = await deps.vmm.restore(built.spec, snapshot);
      timer.mark('restore');
      deps.fault?.('wake.after-restore');
      return restored;
    })
    .catch(async (error: unknown) => {
      // No mkfs may still write into the drive the cleanup removes.
      await materialized.then((built) => built.written).catch(() => undefined);
      await dropSecretsDrive(deps, record.key);
      await save(deps, record, { intent: null });
      throw new HostError(
        `wake of '${record.key}' failed (still sleeping, snapshot kept): ${errorMessage(error)}`,
        { key: record.key },
        { cause: error },
      );
    });
  record = await save(deps, record, { handle });
  timer.mark('record');
  try {
    await placeInCgroup(deps, handle);
    timer.mark('cgroup');
    await written;
    timer.mark('drivesWritten');
    await deps.vmm.resume(handle);
    timer.mark('resume');
    deps.fault?.('wake.after-resume');
    const guest = deps.guests.for(handle);
    await guest.waitReady(deps.timeouts.wakeReadyMs);
    timer.mark('guestReady');
    await guest.wake(Math.floor(deps.clock.now().getTime() / 1000), digests);
    timer.mark('guestWake');
  } catch (error) {
    await deps.vmm.stop(handle);
    deps.guests.drop(record.key);
    await dropSecretsDrive(deps, record.key);
    await save(deps, record, { intent: null, handle: null });
    throw new HostError(
      `wake of '${record.key}' failed (still sleeping, snapshot kept): ${errorMessage(error)}`,
      { key: record.key },
      { cause: error },
    );
  }
  const woken = await settle(deps, record, 'running', { snapshot: null });
  timer.mark('record');
  await discardSnapshot(snapshot.dir, deps.logger);
  timer.mark('snapshotDiscarded');
  await afterWake(deps, woken, handle, digests.secrets);
  timer.mark('hooks');
  deps.logger.info(
    { key: record.key, pid: handle.pid, phasesMs: timer.ms, partsMs },
    'instance running (woken)',
  );
  return woken;
}

/**
 * The VMM opens its tap by name, so the tap must already be a port of its tenant bridge,
 * behind its anti-spoofing chain: the whole desired network is applied first (idempotent).
 */
async function syncNetwork(deps: RuntimeDeps): Promise<void> {
  await deps.network?.sync();
}

/**
 * The VMM driver places the process itself when it can (QEMU does, before the vCPUs run);
 * placing again is idempotent and covers drivers that do not. Membership is then proven.
 */
export async function placeInCgroup(deps: RuntimeDeps, handle: VmHandle): Promise<void> {
  if (!deps.cgroups) return;
  await deps.cgroups.place(handle.key, handle.pid);
  const pids = await deps.cgroups.pids(handle.key);
  if (!pids.includes(handle.pid)) {
    throw new HostError(
      `VMM pid ${handle.pid} of '${handle.key}' is not in its cgroup (cgroup.procs: ${pids.join(',')})`,
    );
  }
}
