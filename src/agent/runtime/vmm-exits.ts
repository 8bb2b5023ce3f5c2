/**
 * A VMM that dies while the agent runs (the kernel's OOM killer in its cgroup, a crash) is a
 * failure the agent must report, with the reason, not a VM it still believes running. Checked
 * periodically (start-agent.ts) and on demand; recovery covers deaths while the agent was away.
 */
import { errorMessage } from '../../core/errors.ts';
import { isAlive } from '../../drivers/process/process-control.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import { save } from './step-context.ts';

/** Runs work holding one instance's lock (InstanceRuntime.locked). */
export type Locked = <T>(key: string, work: () => Promise<T>) => Promise<T>;

/** Marks every running or warm instance whose VMM has exited as failed; returns them. */
export async function failExitedVmms(deps: RuntimeDeps, locked: Locked): Promise<VmRecord[]> {
  const failed: VmRecord[] = [];
  for (const listed of await deps.vms.list()) {
    if (!watched(listed) || (await stillRunning(listed))) continue;
    const record = await locked(listed.key, () => failIfExited(deps, listed.key));
    if (record) failed.push(record);
  }
  return failed;
}

/** A cheap look at the process first: no lock taken and no VMM API call for a live one. */
async function stillRunning(record: VmRecord): Promise<boolean> {
  return record.handle !== null && isAlive(record.handle.pid, record.handle.pidStartTime);
}

/** Only settled instances: one with an action under way is that action's to judge. */
function watched(record: VmRecord): boolean {
  const live = record.status === 'running' || record.status === 'warm';
  return live && record.handle !== null && record.intent === null;
}

async function failIfExited(deps: RuntimeDeps, key: string): Promise<VmRecord | undefined> {
  const record = await deps.vms.get(key);
  if (!record?.handle || !watched(record)) return undefined;
  if ((await deps.vmm.state(record.handle)) !== 'exited') return undefined;
  const reason = await exitReason(deps, record);
  deps.logger.error({ key, pid: record.handle.pid, reason }, 'instance failed: its VMM exited');
  deps.guests.drop(key);
  await deps.vmm.stop(record.handle).catch(() => undefined);
  await deps.cgroups?.remove(key).catch((error: unknown) => {
    deps.logger.warn({ key, error: errorMessage(error) }, 'cgroup of a dead VMM not removed');
  });
  return save(deps, record, { status: 'failed', handle: null, failureReason: reason });
}

/** The cgroup's OOM counter tells a memory-limit kill from any other death. */
export async function exitReason(deps: RuntimeDeps, record: VmRecord): Promise<string> {
  const pid = record.handle?.pid ?? '?';
  const kills = (await deps.cgroups?.oomKills(record.key).catch(() => 0)) ?? 0;
  if (kills === 0) return `VMM process ${pid} exited unexpectedly while ${record.status}`;
  const overhead = (await deps.vmm.capabilities()).memOverheadMib;
  const guest = record.spec.memMib;
  return `VMM process ${pid} was killed by the out-of-memory killer of its cgroup: it outgrew its memory limit of ${guest + overhead} MiB (guest RAM ${guest} MiB + VMM overhead ${overhead} MiB)`;
}
