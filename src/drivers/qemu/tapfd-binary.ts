/**
 * mvm-tapfd (tapfd/mvm-tapfd.c), the host helper that attaches a confined QEMU's taps and
 * hands them over as descriptors, so QEMU keeps no CAP_NET_ADMIN. Compiled on the host like
 * the guest agent (guest-agent-binary.ts), once per source and compiler, cached under
 * `<cacheDir>/host-tools/mvm-tapfd/<key>/mvm-tapfd`; no binary is shipped.
 */
import { createHash } from 'node:crypto';
import { copyFile, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { makeStagingDir, publishDir } from '../dev-image/cache-dir.ts';

/** The helper's C source (beside the compiled driver too: scripts/build.sh copies it). */
export const TAPFD_SOURCE = fileURLToPath(new URL('./tapfd/mvm-tapfd.c', import.meta.url));

/** Static and stripped, as the guest agent; compiled by relative name, so no host path in it. */
const CFLAGS = ['-static', '-Os', '-std=gnu11', '-s', '-Wall', '-Wextra', '-Werror'];

export interface TapfdBuildOptions {
  /** The C compiler (the agent's MVM_GUEST_CC); default gcc. Part of the cache key. */
  cc?: string;
}

/** The path of the compiled helper, building it first if this source and compiler have none. */
export async function ensureTapfd(
  cacheDir: string,
  runner: ProcessRunner,
  options: TapfdBuildOptions = {},
): Promise<string> {
  const cc = options.cc ?? 'gcc';
  const source = await readFile(TAPFD_SOURCE);
  const version = await runner.run(cc, ['--version']).catch((error: unknown) => {
    throw new HostError(
      `no C compiler '${cc}' to build mvm-tapfd: install gcc and libc6-dev (scripts/setup.sh does) (${String(error)})`,
    );
  });
  const key = createHash('sha256')
    .update(CFLAGS.join(' '))
    .update(version.stdout)
    .update(source)
    .digest('hex')
    .slice(0, 32);
  const parent = join(cacheDir, 'host-tools', 'mvm-tapfd');
  const path = join(parent, key, 'mvm-tapfd');
  if (await stat(path).catch(() => undefined)) return path;
  const staging = await makeStagingDir(parent, key.slice(0, 12));
  await copyFile(TAPFD_SOURCE, join(staging, 'mvm-tapfd.c'));
  await runner
    .run(cc, [...CFLAGS, '-o', 'mvm-tapfd', 'mvm-tapfd.c'], { cwd: staging })
    .catch(async (error: unknown) => {
      await rm(staging, { recursive: true, force: true });
      throw new HostError(
        `compiling mvm-tapfd failed (is libc6-dev installed? static glibc comes with it): ${String(error)}`,
      );
    });
  await publishDir(staging, join(parent, key));
  return path;
}
