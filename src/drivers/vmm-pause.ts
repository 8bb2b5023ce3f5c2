/**
 * Pausing a VMM from its recorded handle alone, for a process that holds no driver (the fence
 * watchdog, agent/lease/fence-watchdog.ts): QMP `stop` for QEMU, `PATCH /vm Paused` for
 * Firecracker. Both leave the VMM adoptable: a restarted agent finds it answering and paused.
 * The process is checked first (pid, start time, command line), so a reused pid is never hit.
 */
import type { VmHandle } from '../ports/vmm.ts';
import { FirecrackerApiClient } from './firecracker/api-client.ts';
import { vmStateRequest } from './firecracker/requests.ts';
import { commandLine, isAlive } from './process/process-control.ts';
import { QmpClient } from './qemu/qmp-client.ts';

const COMMAND_MS = 5_000;

/** 'paused' (now or already), or 'gone' when the VMM is no longer that process. */
export async function pauseByHandle(vm: VmHandle): Promise<'paused' | 'gone'> {
  if (!(await isAlive(vm.pid, vm.pidStartTime))) return 'gone';
  const argv = await commandLine(vm.pid);
  if (vm.driver === 'qemu') {
    if (!argv.some((arg) => arg.includes(vm.controlSocket))) return 'gone';
    const qmp = await QmpClient.connect(vm.controlSocket, { timeoutMs: COMMAND_MS });
    try {
      await qmp.execute('stop', undefined, COMMAND_MS);
    } finally {
      qmp.close();
    }
    return 'paused';
  }
  if (!argv.some((arg) => arg.includes('firecracker'))) return 'gone';
  const request = vmStateRequest('Paused');
  // A refusal throws with Firecracker's own fault message.
  await new FirecrackerApiClient(vm.controlSocket, COMMAND_MS).call(
    request.method,
    request.path,
    request.body,
  );
  return 'paused';
}
