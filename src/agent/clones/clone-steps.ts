import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, rm } from 'node:fs/promises';
import { baseKey } from '../../core/base-key.ts';
import { errorMessage } from '../../core/errors.ts';
import { machineIdOf } from '../../core/machine-id.ts';
import type { DriveDigests } from '../../contract/guest-protocol.ts';
import type { GuestIdentity } from '../../contract/guest-identity.ts';
import type { VmHandle, VmSpec } from '../../ports/vmm.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from '../runtime/deps.ts';
import { instanceDir } from '../runtime/layout.ts';
import { requireHandle, save, settle } from '../runtime/step-context.ts';
import { dropSecretsDrive } from '../runtime/stop-steps.ts';
import { materialize } from '../runtime/vm-spec.ts';
import { placeInCgroup } from '../runtime/boot-steps.ts';
import { runHook } from '../runtime/hook-steps.ts';
import type { PoolBase } from './base-store.ts';

/**
 * The intent a clone's start is recorded under: a VMM adopted with it may still carry its
 * base's identity, so recovery ends it instead of adopting it (interruptedClone).
 */
export const CLONE_INTENT = 'clone';

/** A clone came up (`running`), or the caller cold-boots the record it is given. */
export type CloneOutcome =
  { kind: 'running'; record: VmRecord } | { kind: 'cold'; record: VmRecord };

/**
 * ready -> running from the pool's base (docs/clones.md): the clone gets a copy of the base's
 * data drive and its own other drives, the VMM restores the base's state with the NIC held
 * down, the guest takes the clone's identity, and only then does the NIC carry frames. No
 * base, a data drive of its own already, or any failure: the caller cold-boots (a failure
 * removes the base too, so the next cold boot makes a fresh one).
 */
export async function cloneBoot(deps: RuntimeDeps, ready: VmRecord): Promise<CloneOutcome> {
  const clones = deps.clones;
  if (!clones || !deps.vmm.setLink) return { kind: 'cold', record: ready };
  const image = await deps.images.resolve(ready.spec.revision);
  const base = await clones.find(ready, image).catch((error: unknown) => {
    deps.logger.warn({ key: ready.key, error: errorMessage(error) }, 'no pool base looked up');
    return undefined;
  });
  const dir = instanceDir(deps.layout, ready.key);
  if (!base || !(await deps.drives.seedData?.(dir, base.dataPath)))
    return { kind: 'cold', record: ready };
  let record = await save(deps, ready, { intent: CLONE_INTENT });
  let handle: VmHandle | undefined;
  try {
    await deps.network?.sync();
    const built = await materialize(deps, record);
    handle = await deps.vmm.restore(built.spec, base.snapshot);
    record = await save(deps, record, { handle });
    await takeIdentity(deps, record, handle, built.spec, built.digests);
  } catch (error) {
    record = await abandonClone(deps, record, base, handle, error);
    return { kind: 'cold', record };
  }
  deps.logger.info(
    { key: record.key, base: base.key, pid: handle.pid },
    'instance running (clone)',
  );
  return { kind: 'running', record: await settle(deps, record, 'running') };
}

async function takeIdentity(
  deps: RuntimeDeps,
  record: VmRecord,
  handle: VmHandle,
  spec: VmSpec,
  digests: DriveDigests,
): Promise<void> {
  const setLink = deps.vmm.setLink!.bind(deps.vmm);
  await placeInCgroup(deps, handle);
  // Still paused: the base's MAC and IP never reach a wire.
  for (const net of spec.nets) await setLink(handle, net.id, false);
  await deps.vmm.resume(handle);
  const guest = deps.guests.for(handle);
  await guest.waitReady(deps.timeouts.wakeReadyMs);
  await guest.identity(identityOf(deps, record, digests));
  for (const net of spec.nets) await setLink(handle, net.id, true);
}

/**
 * What the clone becomes: the record's own hostname, address, MAC and machine-id, fresh
 * randomness.
 */
export function identityOf(
  deps: RuntimeDeps,
  record: VmRecord,
  digests: DriveDigests,
): GuestIdentity {
  const { spec } = record;
  const onTenantNet = spec.network && spec.tenant !== undefined;
  const mtu = onTenantNet ? deps.network?.guestMtu : undefined;
  return {
    hostname: record.instanceId,
    ip: `${spec.ip}/${spec.prefixLength}`,
    ...(spec.gateway ? { gw: spec.gateway } : {}),
    mac: spec.mac,
    ...(mtu !== undefined ? { mtu } : {}),
    // Its own, as its cold boots get it (core/machine-id.ts).
    machine_id: machineIdOf(record.key),
    seed: randomBytes(64).toString('hex'),
    now: deps.clock.now().getTime() / 1000,
    ...digests,
  };
}

async function abandonClone(
  deps: RuntimeDeps,
  record: VmRecord,
  base: PoolBase,
  handle: VmHandle | undefined,
  cause: unknown,
): Promise<VmRecord> {
  deps.logger.warn(
    { key: record.key, base: base.key, error: errorMessage(cause) },
    'clone failed; cold boot instead',
  );
  if (handle) await deps.vmm.stop(handle);
  deps.guests.drop(record.key);
  await dropSecretsDrive(deps, record.key);
  // The seeded copy goes: the cold boot makes the instance's own first data drive.
  const dir = instanceDir(deps.layout, record.key);
  await rm(await deps.drives.ensureData(dir, record.spec.dataDiskMib), { force: true });
  await deps.clones?.store.invalidate(base.key, `a clone from it failed: ${errorMessage(cause)}`);
  return save(deps, record, { intent: null, handle: null });
}

/**
 * After a cold boot, when the pool has no base yet: the running instance is the donor. It
 * drains (sleep-prep: in-flight work done, filesystems flushed), is paused, its state and data
 * drive are saved as the base, and it runs on. The base is never resumed itself. Never fails
 * the donor: a busy guest or an error leaves no base, and the next cold boot tries again.
 */
export async function makeBase(deps: RuntimeDeps, running: VmRecord): Promise<void> {
  const clones = deps.clones;
  if (!clones || !deps.vmm.setLink) return;
  const vm = requireHandle(running);
  try {
    const image = await deps.images.resolve(running.spec.revision);
    const inputs = await clones.inputs(running, image);
    const key = baseKey(inputs);
    if (await clones.store.find(key)) return;
    if (!(await warmedUp(deps, running, vm))) return;
    const prep = await deps.guests.for(vm).sleepPrep(deps.timeouts.sleepPrepMs);
    if (!prep.drained) {
      deps.logger.info({ key: running.key, busy: prep.busy }, 'donor busy; no pool base yet');
      return;
    }
    if (!inputs.layout.includes('data:')) return; // nothing to seed a clone's data drive from
    const dir = instanceDir(deps.layout, running.key);
    const data = await deps.drives.ensureData(dir, running.spec.dataDiskMib);
    await deps.vmm.pause(vm);
    try {
      await clones.store.create(key, inputs, running.key, async (snapshotDir, dataPath) => {
        const snapshot = await deps.vmm.snapshot(vm, snapshotDir, 'full');
        await copyFile(data, dataPath, constants.COPYFILE_FICLONE);
        return snapshot;
      });
    } finally {
      await deps.vmm.resume(vm);
    }
    deps.logger.info({ key: running.key, base: key }, 'pool base made');
  } catch (error) {
    deps.logger.warn({ key: running.key, error: errorMessage(error) }, 'no pool base made');
  }
}

/** The pool's warm-up ran in the donor to exit 0 (or it has none): its base may be taken. */
async function warmedUp(deps: RuntimeDeps, donor: VmRecord, vm: VmHandle): Promise<boolean> {
  const argv = donor.spec.hooks?.warmUp;
  if (!argv) return true;
  const result = await runHook(deps, vm, argv);
  if (result.code === 0) {
    deps.logger.info({ key: donor.key, hook: 'warmUp' }, 'donor warmed up');
    return true;
  }
  deps.logger.warn(
    { key: donor.key, hook: 'warmUp', code: result.code, output: result.output },
    'warm-up failed; no pool base (clones cold-boot)',
  );
  return false;
}

/**
 * Recovery of a clone the agent was killed in the middle of: its guest may not have taken its
 * identity (its NIC held down, or the base's MAC and IP), so it is never adopted as it is.
 * Its VMM is ended and it fails with the reason; starting it again boots it with its drives.
 */
export async function interruptedClone(
  deps: RuntimeDeps,
  record: VmRecord,
  vm: VmHandle,
): Promise<VmRecord> {
  await deps.vmm.stop(vm);
  await deps.cgroups?.remove(record.key);
  await dropSecretsDrive(deps, record.key);
  const reason = 'the agent stopped while this clone took its identity; start it again';
  deps.logger.warn({ key: record.key, reason }, 'instance failed');
  return save(deps, record, {
    status: 'failed',
    intent: null,
    handle: null,
    failureReason: reason,
  });
}
