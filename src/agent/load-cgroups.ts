import type { Logger } from '../ports/logger.ts';
import type { Cgroups } from '../ports/cgroups.ts';

/**
 * The host's cgroups (each controller on cgroup2 or its v1 hierarchy, see host-cgroups.ts), or
 * undefined on hosts with none (the agent then runs VMs without limits and says so).
 * Imported lazily so a host without cgroups still runs.
 */
export async function loadCgroups(logger: Logger): Promise<Cgroups | undefined> {
  const { HostCgroups } = await import('../drivers/cgroups/host-cgroups.ts');
  const cgroups = new HostCgroups({ logger });
  const layout = await cgroups.layout();
  if (layout.mode === 'none') {
    logger.warn({}, 'no cgroups on this host; VMs run without per-instance limits');
    return undefined;
  }
  const missing = Object.entries(layout.controllers).filter(([, where]) => where === 'none');
  if (missing.length > 0) {
    logger.warn(
      { controllers: missing.map(([name]) => name) },
      'cgroup controllers missing on this host; those limits are not applied',
    );
  }
  logger.info({ ...layout, mount: await cgroups.mountPoint() }, `cgroups: ${layout.mode}`);
  return cgroups;
}
