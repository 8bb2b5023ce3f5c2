import { errorMessage } from '../../core/errors.ts';
import { rm } from 'node:fs/promises';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import { instanceDir, secretsDirOf, snapshotsDir } from './layout.ts';
import { save, settle } from './step-context.ts';

/**
 * Once no VMM holds it, an instance's secrets drive goes: the next start or wake builds it
 * again from current values, so secrets lie in clear on the host only while a VM runs.
 */
export async function dropSecretsDrive(deps: RuntimeDeps, key: string): Promise<void> {
  await rm(secretsDirOf(deps.layout, key), { recursive: true, force: true });
}

/**
 * any -> stopped: a running guest is asked to flush first (best effort: a hung guest must
 * not block a stop), then the VMM ends; the snapshot and the cgroup go, drives stay.
 */
export async function stop(deps: RuntimeDeps, from: VmRecord): Promise<VmRecord> {
  let record = await save(deps, from, { intent: 'stop' });
  const vm = record.handle;
  if (vm) {
    if (record.status === 'running') {
      await deps.guests
        .for(vm)
        .sleepPrep(Math.min(3_000, deps.timeouts.sleepPrepMs))
        .catch((error: unknown) =>
          deps.logger.warn(
            { key: record.key, error: errorMessage(error) },
            'guest did not drain before stop',
          ),
        );
    }
    await deps.vmm.stop(vm);
    deps.fault?.('stop.after-kill');
    deps.guests.drop(record.key);
    record = await save(deps, record, { handle: null });
  }
  await dropSecretsDrive(deps, record.key);
  await rm(snapshotsDir(instanceDir(deps.layout, record.key)), { recursive: true, force: true });
  await deps.cgroups?.remove(record.key);
  deps.logger.info({ key: record.key }, 'instance stopped');
  return settle(deps, record, 'stopped', { snapshot: null });
}

/** any -> destroyed: stop, then every host resource of the instance, then its record. */
export async function destroy(deps: RuntimeDeps, from: VmRecord): Promise<VmRecord> {
  const stopped = from.status === 'stopped' ? from : await stop(deps, from);
  const dir = instanceDir(deps.layout, stopped.key);
  await deps.drives.removeAll(dir);
  deps.fault?.('destroy.after-drives');
  await dropSecretsDrive(deps, stopped.key);
  await deps.cgroups?.remove(stopped.key);
  await rm(dir, { recursive: true, force: true });
  const destroyed = await settle(deps, stopped, 'destroyed');
  await deps.vms.delete(destroyed);
  // Last: the uid is reused only once nothing of this instance is left.
  await deps.identities.release(stopped.key);
  // Without the record its tap goes; with the tenant's last VM, its bridge and rules too.
  await deps.network?.sync();
  deps.logger.info({ key: stopped.key }, 'instance destroyed');
  return destroyed;
}
