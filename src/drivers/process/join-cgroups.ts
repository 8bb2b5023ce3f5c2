import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { SpawnedProcess } from '../../ports/process-runner.ts';

/**
 * Moves a process spawned `held` into its cgroups, then lets it exec its command: memory is
 * charged to the cgroup a task was in when it touched the page, so a VMM placed only after
 * it started would leave its start-up (and a restored guest's RAM) outside its own limit.
 * Written from here, in the agent's mount namespace: a command run through `ip netns exec`
 * sees a fresh /sys without the cgroup mounts. A process that cannot be placed is killed.
 */
export async function joinCgroups(child: SpawnedProcess, dirs: readonly string[]): Promise<void> {
  try {
    for (const dir of dirs) await writeFile(join(dir, 'cgroup.procs'), `${child.pid}\n`);
  } catch (error) {
    child.kill('SIGKILL');
    throw new HostError(
      `could not move the VMM (pid ${child.pid}) into its cgroup: ${(error as Error).message}; does the cgroup exist?`,
      { pid: child.pid, dirs: [...dirs] },
    );
  }
  child.release();
}
