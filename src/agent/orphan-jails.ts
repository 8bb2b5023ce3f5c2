/**
 * Firecracker jails (`<jailsDir>/firecracker/<key>`) that no record owns, and the jailed
 * VMMs still running in them. A jailed Firecracker's command line names no host path (the
 * jailer pivots into the chroot), so it is recognised by its root: /proc/<pid>/root is the
 * jail's `root` directory (same device and inode).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { commandLine, listPids, processStartTime } from '../drivers/process/process-control.ts';
import { unmountUnder } from '../drivers/firecracker/jail-mounts.ts';
import type { OrphanDeps, VmmProcess } from './orphans.ts';
import { MVM_PREFIX } from './runtime/vm-key.ts';

/** The jailer's layout: `<chroot base>/<exec file name>/<id>/root`. */
const EXEC_DIRS = ['firecracker'];

export interface OrphanJail {
  key: string;
  path: string;
}

export async function orphanJails(
  jailsDir: string,
  owned: ReadonlySet<string>,
): Promise<OrphanJail[]> {
  const found: OrphanJail[] = [];
  for (const exec of EXEC_DIRS) {
    const keys = await readdir(join(jailsDir, exec)).catch(() => [] as string[]);
    for (const key of keys.filter((k) => k.startsWith(MVM_PREFIX) && !owned.has(k))) {
      found.push({ key, path: join(jailsDir, exec, key) });
    }
  }
  return found;
}

/** Processes (other than `livePids`) whose root is one of the jails' `root` directories. */
export async function processesInJails(
  jails: readonly OrphanJail[],
  livePids: ReadonlySet<number>,
): Promise<VmmProcess[]> {
  const roots = new Map<string, string>();
  for (const jail of jails) {
    const root = await stat(join(jail.path, 'root')).catch(() => undefined);
    if (root) roots.set(`${root.dev}:${root.ino}`, jail.key);
  }
  if (roots.size === 0) return [];
  const found: VmmProcess[] = [];
  for (const pid of await listPids()) {
    if (pid === process.pid || livePids.has(pid)) continue;
    const root = await stat(`/proc/${pid}/root/`).catch(() => undefined);
    const key = root ? roots.get(`${root.dev}:${root.ino}`) : undefined;
    if (key === undefined) continue;
    const startTime = await processStartTime(pid);
    if (startTime !== undefined) found.push({ pid, startTime, argv: await commandLine(pid), key });
  }
  return found;
}

/** A key's jails under every exec dir, their bind mounts undone first; idempotent. */
export async function removeJail(deps: OrphanDeps, key: string): Promise<void> {
  for (const exec of EXEC_DIRS) {
    const dir = join(deps.layout.jailsDir, exec, key);
    if (deps.runner) await unmountUnder(deps.runner, dir);
    await rm(dir, { recursive: true, force: true }).catch((error: unknown) => {
      deps.logger.warn({ dir, error: String(error) }, 'orphan jail not removed (mounts left?)');
    });
  }
}
