import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { makeStagingDir, publishDir } from './cache-dir.ts';
import type { CpioEntry } from './cpio-newc.ts';
import { buildRootfsImage, hashEntries } from './rootfs.ts';

export interface InitDriveInputs {
  busybox: Uint8Array;
  applets: readonly string[];
  /** PID 1 after the switch to the image's root: images/dev/mvm-init. */
  init: string;
  /** The static version-2 agent. */
  agent: Uint8Array;
  /** The busybox agent of version 1, kept as a fallback (`mvm.agent=v1`). */
  agentSh: string;
}

export interface InitDrive {
  /** Read-only ext4 labelled `mvm-init`, shared by every image and instance using it. */
  path: string;
  /** sha256 of its content (paths, modes, bytes). */
  digest: string;
}

/**
 * mvm's own drive, mounted read-only at /mvm in every guest (as Fly attaches its init): the
 * init, the agent and a busybox for the init's needs. Images never carry any of it, so an
 * image without a shell still boots to a ready agent, and a new agent changes no image.
 */
export function initDriveEntries(inputs: InitDriveInputs): CpioEntry[] {
  // `run`: where the run-spec drive (label mvm-run) of an image with a workload is mounted.
  const entries: CpioEntry[] = ['bin', 'lib', 'run'].map((path) => ({ kind: 'dir', path }));
  entries.push({ kind: 'file', path: 'init', data: Buffer.from(inputs.init), mode: 0o755 });
  entries.push({ kind: 'file', path: 'bin/busybox', data: inputs.busybox, mode: 0o755 });
  for (const applet of new Set(inputs.applets)) {
    if (applet === 'busybox' || !/^[A-Za-z0-9_.[-]+$/.test(applet)) continue;
    entries.push({ kind: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  }
  entries.push({ kind: 'file', path: 'bin/mvm-agent', data: inputs.agent, mode: 0o755 });
  // A gateway's commands in its tenant's workers (docs/openclaw.md, "Worker exec").
  entries.push({ kind: 'symlink', path: 'bin/mvm-worker', target: 'mvm-agent' });
  entries.push({
    kind: 'file',
    path: 'lib/agent.sh',
    data: Buffer.from(inputs.agentSh),
    mode: 0o755,
  });
  return entries;
}

/** Builds the drive once per content: `<cacheDir>/init-drives/<digest>/mvm-init.ext4`. */
export async function ensureInitDrive(
  cacheDir: string,
  runner: ProcessRunner,
  inputs: InitDriveInputs,
): Promise<InitDrive> {
  const entries = initDriveEntries(inputs);
  const digest = hashEntries(entries);
  const path = initDrivePath(cacheDir, digest);
  if (await stat(path).catch(() => undefined)) return { path, digest };
  const parent = join(cacheDir, 'init-drives');
  const staging = await makeStagingDir(parent, digest.slice(0, 12));
  await buildRootfsImage(runner, join(staging, 'mvm-init.ext4'), entries, 'mkfs.ext4', 'mvm-init');
  await publishDir(staging, join(parent, digest));
  return { path, digest };
}

export function initDrivePath(cacheDir: string, digest: string): string {
  return join(cacheDir, 'init-drives', digest, 'mvm-init.ext4');
}
