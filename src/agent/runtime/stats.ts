import { readFile } from 'node:fs/promises';
import type { LocalInstance, LocalLogs, LocalStats } from '../../contract/agent-api.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';
import { consoleLog, instanceDir } from './layout.ts';

/** The API view of a record: no secrets, no config contents. */
export function toLocalInstance(record: VmRecord): LocalInstance {
  return {
    key: record.key,
    tenantId: record.tenantId,
    poolId: record.poolId,
    instanceId: record.instanceId,
    status: record.status,
    spec: record.spec,
    pid: record.handle?.pid ?? null,
    failureReason: record.failureReason,
    snapshotDir: record.snapshot?.dir ?? null,
    updatedAt: record.updatedAt,
    version: record.version,
  };
}

/** Live facts: VMM state, cgroup membership, and the guest's own view when it runs. */
export async function collectStats(deps: RuntimeDeps, record: VmRecord): Promise<LocalStats> {
  const vm = record.handle;
  const vmState = vm ? await deps.vmm.state(vm).catch(() => 'exited' as const) : null;
  return {
    ...toLocalInstance(record),
    vmState,
    cgroup: await cgroupStats(deps, record),
    guest: vm && vmState === 'running' ? await guestStats(deps, record) : null,
  };
}

async function cgroupStats(deps: RuntimeDeps, record: VmRecord): Promise<LocalStats['cgroup']> {
  if (!deps.cgroups || !record.handle) return null;
  const pids = await deps.cgroups.pids(record.key).catch(() => [] as number[]);
  const mount = (await deps.cgroups.mountPoint()) ?? '';
  return {
    dir: `${mount}/mvm.slice/${record.key}`,
    pids,
    pidInCgroup: pids.includes(record.handle.pid),
  };
}

async function guestStats(deps: RuntimeDeps, record: VmRecord): Promise<LocalStats['guest']> {
  if (!record.handle) return null;
  try {
    const status = await deps.guests.for(record.handle).status(2_000);
    return {
      uptimeS: status.uptime_s,
      counter: status.counter,
      ip: status.ip,
      bootId: status.boot_id,
      ...(status.workload ? { workload: status.workload } : {}),
    };
  } catch {
    return null;
  }
}

/** The tail of the serial console log. */
export async function tailConsole(
  deps: RuntimeDeps,
  record: VmRecord,
  lines: number,
): Promise<LocalLogs> {
  const path = consoleLog(instanceDir(deps.layout, record.key));
  const text = await readFile(path, 'utf8').catch(() => '');
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return { key: record.key, lines: all.slice(-lines) };
}
