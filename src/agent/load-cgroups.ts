import type { Logger } from '../ports/logger.ts';
import type { Cgroups } from '../ports/cgroups.ts';

/**
 * The cgroup v2 driver, or undefined on hosts without a cgroup2 mount (the agent then runs
 * VMs unconfined and says so in stats). Imported lazily so a host without cgroup2 still runs.
 */
export async function loadCgroups(logger: Logger): Promise<Cgroups | undefined> {
  const { CgroupV2 } = await import('../drivers/cgroup-v2/cgroup-v2.ts');
  const cgroups: Cgroups = new CgroupV2({ logger });
  const mount = await cgroups.mountPoint();
  if (mount === undefined) {
    logger.warn({}, 'no cgroup2 mount on this host; VMs run without per-instance cgroups');
    return undefined;
  }
  logger.info({ mount }, 'cgroup v2 found');
  return cgroups;
}
