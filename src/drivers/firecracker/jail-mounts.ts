/**
 * Files from another filesystem go into a jail as bind mounts, never as copies: a secrets
 * drive lives on tmpfs (its values never reach persistent disk), and a copy into a jail
 * under the data dir would put them there. The jailer's mount namespace is a copy of ours,
 * taken with the jail's sub-mounts, so Firecracker sees the file at its place in the chroot.
 * Mounts are made and removed with the host runner: a runner that wraps commands in
 * `ip netns exec` gets a mount namespace of its own, whose mounts nobody else would see.
 */
import { writeFile } from 'node:fs/promises';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { parseMountinfo, readMountinfo } from '../cgroup-v2/cgroup2-mount.ts';

/** Mounts `source` on `target` (an empty file is made for it), read-only unless `writable`. */
export async function bindFile(
  runner: ProcessRunner,
  source: string,
  target: string,
  writable: boolean,
): Promise<void> {
  await writeFile(target, '', { flag: 'a' });
  await runner.run('mount', ['--bind', source, target]);
  if (!writable) await runner.run('mount', ['-o', 'remount,bind,ro', target]);
}

/** Unmounts every mount at or below `dir`, deepest first (lazily: a VMM may still hold it). */
export async function unmountUnder(runner: ProcessRunner, dir: string): Promise<void> {
  const mounts = parseMountinfo(await readMountinfo('/proc/self/mountinfo'))
    .map((m) => m.mountPoint)
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await runner.run('umount', ['-l', point], { check: false });
}
