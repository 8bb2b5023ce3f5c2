import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { NpmPin } from '../../core/openclaw-profiles.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

/**
 * Pinned npm tarballs in the build cache, fetched with the ordinary npm client (`npm pack`,
 * which uses npm's own cache and registry settings) and checked against the pin's sha512
 * integrity, here and on every later use, so a cache entry someone changed is refused.
 */
export async function integrityOf(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha512-${hash.digest('base64')}`;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The tarball of `pin` under `dir`, packed once and checked every time. */
export async function pinnedTarball(
  runner: ProcessRunner,
  pin: NpmPin,
  dir: string,
  npm = 'npm',
): Promise<string> {
  const file = join(dir, `${pin.name}-${pin.version}.tgz`);
  if (!(await exists(file))) {
    const work = join(dir, `.pack-${process.pid}-${Date.now()}`);
    await mkdir(work, { recursive: true });
    try {
      const result = await runner.run(
        npm,
        ['pack', `${pin.name}@${pin.version}`, '--pack-destination', work, '--json'],
        { cwd: work, check: false, timeoutMs: 30 * 60_000 },
      );
      if (result.exitCode !== 0) {
        throw new HostError(
          `npm pack ${pin.name}@${pin.version} failed (is the npm registry reachable?): ${result.stderr.trim().slice(-400)}`,
        );
      }
      await rename(join(work, `${pin.name}-${pin.version}.tgz`), file);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  const found = await integrityOf(file);
  if (found !== pin.integrity) {
    await rm(file, { force: true });
    throw new HostError(
      `${pin.name}@${pin.version} does not match its pinned integrity (got ${found}); removed it, a next build fetches it again`,
    );
  }
  return file;
}
