/**
 * What the real-Firecracker tests need from the machine: binaries, a guest kernel, root,
 * cgroup v2, ext4 images and a tap. Each probe says why it is missing, for the skip message.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../../../../src/drivers/clock/system-clock.ts';
import { DEFAULT_CACHE_DIR } from '../../../../src/drivers/dev-image/cache-dir.ts';
import { ensureDevKernel } from '../../../../src/drivers/dev-image/kernel.ts';
import { waitUntil, WaitTimeoutError } from '../../../../src/drivers/process/wait-until.ts';
import type { ProcessRunner } from '../../../../src/ports/process-runner.ts';

export { systemClock };

const DEFAULT_DIR = '/opt/mvm-test/firecracker';

export type Found<T> = { ok: true; value: T } | { ok: false; why: string };

function binary(envName: string, name: string): Found<string> {
  const fromEnv = process.env[envName];
  if (fromEnv !== undefined && fromEnv !== '') {
    return existsSync(fromEnv)
      ? { ok: true, value: fromEnv }
      : { ok: false, why: `${envName}=${fromEnv} does not exist` };
  }
  const fallback = join(DEFAULT_DIR, name);
  return existsSync(fallback)
    ? { ok: true, value: fallback }
    : { ok: false, why: `set ${envName} or put '${name}' in ${DEFAULT_DIR} (see DEVELOPERS.md)` };
}

export const firecrackerBin = (): Found<string> => binary('MVM_FIRECRACKER_BIN', 'firecracker');
export const jailerBin = (): Found<string> => binary('MVM_JAILER_BIN', 'jailer');

export function hasKvm(): Found<string> {
  return existsSync('/dev/kvm')
    ? { ok: true, value: '/dev/kvm' }
    : { ok: false, why: 'no /dev/kvm' };
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** `MVM_TEST_VMLINUX`, else the cached (or freshly fetched) dev kernel. */
export async function guestKernel(runner: ProcessRunner): Promise<Found<string>> {
  const fromEnv = process.env['MVM_TEST_VMLINUX'];
  if (fromEnv !== undefined && fromEnv !== '') {
    return existsSync(fromEnv)
      ? { ok: true, value: fromEnv }
      : { ok: false, why: `MVM_TEST_VMLINUX=${fromEnv} does not exist` };
  }
  try {
    return { ok: true, value: (await ensureDevKernel(DEFAULT_CACHE_DIR, runner)).vmlinux };
  } catch (error) {
    return {
      ok: false,
      why: `no MVM_TEST_VMLINUX and ensureDevKernel failed: ${(error as Error).message}`,
    };
  }
}

/** The cgroup2 mount: /sys/fs/cgroup on unified hosts, elsewhere (e.g. .../unified) on hybrid ones. */
export async function cgroup2Mount(): Promise<string | undefined> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.startsWith('cgroup2 ')) return before?.split(' ')[4];
  }
  return undefined;
}

export interface CgroupLimit {
  controller: string;
  file: string;
  value: string;
}

/**
 * A harmless limit in a controller this cgroup2 mount really offers. On hybrid hosts most
 * controllers stay bound to v1 hierarchies (here only hugetlb is left to v2), and the jailer
 * aborts with "Controller pids is unavailable" if asked for one of those.
 */
export async function cgroupLimit(mount: string): Promise<CgroupLimit | undefined> {
  const available = (await readFile(join(mount, 'cgroup.controllers'), 'utf8')).split(/\s+/);
  const candidates: CgroupLimit[] = [
    { controller: 'pids', file: 'pids.max', value: '200' },
    { controller: 'memory', file: 'memory.max', value: String(512 * 1024 * 1024) },
    { controller: 'hugetlb', file: 'hugetlb.2MB.max', value: '0' },
  ];
  return candidates.find((c) => available.includes(c.controller));
}

/**
 * rmdir, deepest first, retried briefly: a cgroup stays busy for a moment after its last
 * process exited.
 */
export async function removeCgroups(runner: ProcessRunner, dirs: readonly string[]): Promise<void> {
  const removed = async () => {
    const left = dirs.filter((dir) => existsSync(dir));
    if (left.length === 0) return true;
    await runner.run('rmdir', left, { check: false });
    return undefined;
  };
  await waitUntil(removed, {
    clock: systemClock,
    timeoutMs: 2_500,
    what: `cgroups ${dirs.join(', ')} to go`,
  }).catch((error: unknown) => {
    if (!(error instanceof WaitTimeoutError)) throw error;
  });
}

/** An ext4 image built from a directory with `mkfs.ext4 -d`: no mounts, no loop devices. */
export async function ext4Image(
  runner: ProcessRunner,
  path: string,
  files: Record<string, string>,
  sizeMib = 8,
): Promise<string> {
  const src = `${path}.src`;
  await mkdir(src, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(src, name), text);
  await runner.run('mkfs.ext4', ['-q', '-F', '-d', src, path, `${sizeMib}M`]);
  return path;
}

export async function createTap(runner: ProcessRunner, name: string): Promise<boolean> {
  const result = await runner.run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap'], {
    check: false,
  });
  return result.exitCode === 0;
}

export async function deleteTap(runner: ProcessRunner, name: string): Promise<void> {
  await runner.run('ip', ['link', 'del', name], { check: false });
}
