import { createHash } from 'node:crypto';
import { copyFile, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { makeStagingDir, publishDir } from './cache-dir.ts';

/** The version-2 guest agent's C sources (beside the compiled CLI too: scripts/build.sh). */
export const GUEST_AGENT_SOURCES = fileURLToPath(new URL('../../guest/agent/', import.meta.url));

/**
 * gnu11 for glibc's extensions; -static so it runs in any image (no libc of its own needed);
 * -s strips symbols. The sources are compiled by relative name in a scratch directory, so no
 * host path ends up in the binary and equal inputs give equal bytes.
 */
const CFLAGS = ['-static', '-Os', '-std=gnu11', '-s', '-Wall', '-Wextra'];

export interface GuestAgentBinary {
  path: string;
  /** sha256 of the binary's bytes. */
  sha256: string;
}

export interface GuestAgentBuildOptions {
  /** The C compiler (config: MVM_GUEST_CC); default gcc. Its version is part of the cache key. */
  cc?: string;
}

/**
 * The static mvm-agent binary, compiled from src/guest/agent at most once per source and
 * compiler: cached under `<cacheDir>/guest-agent/<key>/mvm-agent`.
 */
export async function ensureGuestAgent(
  cacheDir: string,
  runner: ProcessRunner,
  options: GuestAgentBuildOptions = {},
): Promise<GuestAgentBinary> {
  const cc = options.cc ?? 'gcc';
  const sources = await readSources();
  const version = await runner.run(cc, ['--version']).catch((error: unknown) => {
    throw new HostError(
      `no C compiler '${cc}' to build the guest agent: install gcc and libc6-dev (scripts/setup.sh does), or set MVM_GUEST_CC (${String(error)})`,
    );
  });
  const key = hashInputs(sources, version.stdout);
  const dir = join(cacheDir, 'guest-agent', key);
  const path = join(dir, 'mvm-agent');
  if (!(await stat(path).catch(() => undefined))) await compile(cacheDir, key, cc, sources, runner);
  return {
    path,
    sha256: createHash('sha256')
      .update(await readFile(path))
      .digest('hex'),
  };
}

async function readSources(): Promise<Array<{ name: string; data: Buffer }>> {
  const names = (await readdir(GUEST_AGENT_SOURCES)).filter((n) => /\.[ch]$/.test(n)).sort();
  return Promise.all(
    names.map(async (name) => ({ name, data: await readFile(join(GUEST_AGENT_SOURCES, name)) })),
  );
}

function hashInputs(sources: Array<{ name: string; data: Buffer }>, ccVersion: string): string {
  const hash = createHash('sha256').update(CFLAGS.join(' ')).update(ccVersion);
  for (const source of sources) hash.update(source.name).update('\0').update(source.data);
  return hash.digest('hex').slice(0, 32);
}

async function compile(
  cacheDir: string,
  key: string,
  cc: string,
  sources: Array<{ name: string; data: Buffer }>,
  runner: ProcessRunner,
): Promise<void> {
  const staging = await makeStagingDir(join(cacheDir, 'guest-agent'), key.slice(0, 12));
  for (const source of sources)
    await copyFile(join(GUEST_AGENT_SOURCES, source.name), join(staging, source.name));
  const units = sources.map((s) => s.name).filter((n) => n.endsWith('.c'));
  await runner
    .run(cc, [...CFLAGS, '-o', 'mvm-agent', ...units], { cwd: staging })
    .catch((error: unknown) => {
      throw new HostError(
        `compiling the guest agent failed (is libc6-dev installed? static glibc comes with it): ${String(error)}`,
      );
    });
  await publishDir(staging, join(cacheDir, 'guest-agent', key));
}
