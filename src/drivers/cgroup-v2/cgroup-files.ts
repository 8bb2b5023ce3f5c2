import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../ports/logger.ts';
import type { Controller } from './limit-files.ts';

/** Contents of a cgroup file, or '' when it is not there (a cgroup that is already gone). */
export async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

export const words = (text: string): string[] => text.split(/\s+/).filter((w) => w !== '');

export async function readPids(dir: string): Promise<number[]> {
  return words(await readOptional(join(dir, 'cgroup.procs'))).map(Number);
}

/**
 * Enables `wanted` for the children of `dir`, one controller per write: the kernel rejects a
 * whole multi-controller write when any one of them fails. Returns what is enabled afterwards.
 */
export async function enableControllers(
  dir: string,
  wanted: readonly Controller[],
  log: Logger,
): Promise<Controller[]> {
  const file = join(dir, 'cgroup.subtree_control');
  const active = words(await readOptional(file));
  const enabled: Controller[] = [];
  for (const controller of wanted) {
    if (active.includes(controller)) {
      enabled.push(controller);
      continue;
    }
    try {
      await writeFile(file, `+${controller}`);
      enabled.push(controller);
    } catch (error) {
      // e.g. EBUSY when `dir` holds processes itself: the limit is reported as unavailable.
      log.warn(
        { dir, controller, error: (error as Error).message },
        'could not enable cgroup controller; its limit will not be applied',
      );
    }
  }
  return enabled;
}
